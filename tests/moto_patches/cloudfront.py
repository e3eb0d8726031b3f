try:
    # moto 5.2.5 CloudFront, three read-backs that differ from CloudFront's and leave aws_cloudfront_distribution with a
    # change at every plan:
    #  * an origin's OriginAccessControlId is dropped (moto keeps the origin access identity only); CloudFront returns
    #    it (https://docs.aws.amazon.com/cloudfront/latest/APIReference/API_Origin.html);
    #  * ForwardedValues is answered on a cache behavior that names a cache policy; it is the legacy alternative to
    #    CachePolicyId, absent when a cache policy is attached
    #    (https://docs.aws.amazon.com/cloudfront/latest/APIReference/API_DefaultCacheBehavior.html);
    #  * an unset ACMCertificateArn / IAMCertificateId is answered as "" (the provider reads any value there as a
    #    certificate of one's own and then reads SSLSupportMethod: terraform-provider-aws flattenViewerCertificate);
    #    CloudFront leaves them out on the default certificate.
    from moto.cloudfront import models as _cf
    _origin_init = _cf.Origin.__init__

    def _origin_with_oac(self, origin):
        _origin_init(self, origin)
        self.origin_access_control_id = origin.get("OriginAccessControlId") or ""
    _cf.Origin.__init__ = _origin_with_oac

    def _without_legacy_forwarding(cls):
        _init = cls.__init__

        def _init_with_policy(self, config):
            _init(self, config)
            if config.get("CachePolicyId"):
                self.forwarded_values = None
        cls.__init__ = _init_with_policy
    _without_legacy_forwarding(_cf.DefaultCacheBehaviour)
    _without_legacy_forwarding(_cf.CacheBehaviour)
    _viewer_init = _cf.ViewerCertificate.__init__

    def _viewer_certificate(self, config):
        _viewer_init(self, config)
        self.acm_certificate_arn = self.acm_certificate_arn or None
        self.iam_certificate_id = self.iam_certificate_id or None
        if self.acm_certificate_arn is None and self.iam_certificate_id is None:
            self.ssl_support_method = config.get("SSLSupportMethod")
    _cf.ViewerCertificate.__init__ = _viewer_certificate
except Exception as exc:
    print(f"tf_harness: moto patch (CloudFront origin access control, cache policy and certificate read-backs) skipped: {exc!r}",
          file=sys.stderr)
