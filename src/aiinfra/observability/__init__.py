"""What the deployed system measures and who writes it: the node agents' configurations
(``agents``), the published metric names of AWS and Google Cloud (``reference``, kept as data
with their sources), and the spec's metric vocabulary mapped to each cloud (``metrics``)."""
