try:
    # A CreateWebACL the SDK sends again after a client-side timeout (a loaded test machine, moto answering one
    # request at a time) found the ACL its first attempt made and failed WAFDuplicateItemException, failing the apply.
    # Answer the retry, same name, scope and description, with the ACL already made; a different ACL under a taken name
    # still fails as WAF does (names are unique per scope and Region:
    # https://docs.aws.amazon.com/waf/latest/APIReference/API_CreateWebACL.html).
    from moto.wafv2.models import WAFV2Backend as _WafBackend
    _create_web_acl = _WafBackend.create_web_acl

    def _create_web_acl_retried(self, name, visibility_config, default_action, scope, description, *args, **kwargs):
        for acl in self.wacls.values():
            kind = acl.arn.split(":", 5)[5].split("/", 1)[0]  # regional / global (CLOUDFRONT)
            if acl.name == name and kind == ("global" if scope == "CLOUDFRONT" else "regional") and (acl.description or "") == (description or ""):
                return acl
        return _create_web_acl(self, name, visibility_config, default_action, scope, description, *args, **kwargs)
    _WafBackend.create_web_acl = _create_web_acl_retried
except Exception as exc:
    print(f"tf_harness: moto patch (retried CreateWebACL) skipped: {exc!r}", file=sys.stderr)
