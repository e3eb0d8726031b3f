"""An ACM certificate for HTTPS endpoints, validated through DNS."""

from __future__ import annotations

from collections.abc import Sequence

from aiinfra.cdk import Construct, Fn, TerraformOutput

from aiinfra.constructs._tf import resource


class Certificate(Construct):
    """A public ACM certificate for ``domains`` with DNS validation
    (https://docs.aws.amazon.com/acm/latest/userguide/dns-validation.html).

    With ``hosted_zone_id`` the validation records are created in that Route 53 zone; without it
    they are a stack output (``certificate_validation_records``) for whoever runs the domain's DNS,
    and ``terraform apply`` waits (up to the validation timeout) until ACM has seen them. ``arn``
    is the validated certificate's ARN, so a listener using it is created only once it is issued.

    Example::

        cert = Certificate(stack, "cert", domains=["reco.acme.example"], hosted_zone_id="Z0123456789ABC")
        InferenceEndpoint(..., certificate_arn=cert.arn)

    Args:
        domains: names the certificate covers; the first is its subject.
        hosted_zone_id: the Route 53 zone holding those names; left out, records are an output.
        validation_timeout: how long apply waits for validation; default ``"45m"``.
    """

    def __init__(self, scope: Construct, id: str, *, domains: Sequence[str], hosted_zone_id: str | None = None,
                 validation_timeout: str = "45m", tags: dict[str, str] | None = None):
        super().__init__(scope, id)
        if not domains:
            raise ValueError("domains must name at least one DNS name")
        self.certificate = resource(self, "certificate", "aws_acm_certificate", domain_name=domains[0],
                                    subject_alternative_names=list(domains[1:]) or None, validation_method="DNS",
                                    key_algorithm="RSA_2048", lifecycle={"create_before_destroy": True}, tags=tags)
        options = self.certificate.interpolation_for_attribute("domain_validation_options")
        fqdns = None
        if hosted_zone_id:
            fqdns = []
            for i in range(len(domains)):
                option = Fn.element(Fn.tolist(options), i)
                record = resource(self, f"validation-{i}", "aws_route53_record", zone_id=hosted_zone_id, allow_overwrite=True, ttl=300,
                                  name=Fn.lookup(option, "resource_record_name", None), type=Fn.lookup(option, "resource_record_type", None),
                                  records=[Fn.lookup(option, "resource_record_value", None)])
                fqdns.append(record.get_string_attribute("fqdn"))
        else:
            TerraformOutput(self, "validation-records", value=options, static_id=False,
                            description=f"DNS records that prove ownership of {', '.join(domains)} to ACM; apply waits for them")
        self.validation = resource(self, "validation", "aws_acm_certificate_validation",
                                   certificate_arn=self.certificate.get_string_attribute("arn"), validation_record_fqdns=fqdns,
                                   timeouts={"create": validation_timeout})
        self.arn: str = self.validation.get_string_attribute("certificate_arn")
