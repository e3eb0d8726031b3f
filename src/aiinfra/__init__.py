"""aiinfra: an AI workload requirements spec -> a costed GPU plan -> typed CDK for Terraform stacks.

Data flows one way: ``spec`` -> ``planner`` (over ``catalog``) -> ``stacks`` (built from
``constructs``) -> Terraform JSON. ``validate``, ``plan`` and ``catalog`` never import jsii.
"""

__version__ = "0.1.0"
