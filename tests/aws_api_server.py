"""A local AWS endpoint for the two APIs moto does not serve with data: Service Quotas
(ServiceQuotasV20190624.GetServiceQuota / GetAWSDefaultServiceQuota) and the Price List API
(AWSPriceListService.GetProducts), both awsJson1_1: POST /, the operation in X-Amz-Target, a JSON
body, errors as {"__type": code, "message": ...} with HTTP 400 (403 for credentials), which
botocore parses like any AWS answer.

It answers from recorded responses (tests/data/aws_api/*.json) and is reached through the SDK's
own endpoint settings (AWS_ENDPOINT_URL_SERVICE_QUOTAS, AWS_ENDPOINT_URL_PRICING), so the code
under test runs the real boto3 client: request signing, retries, pagination, error parsing.

Faults, per test: ``throttle[n]`` answers ThrottlingException n times before answering;
``down`` regions answer 503; ``down_after[op] = n`` answers n calls of op, then 503 for good; ``expired`` answers ExpiredTokenException; ``drop_fields`` removes
keys from every Quota answered; ``fail[op] = (status, content_type, body)`` answers every call of op so, raw (an HTML
500 page from a proxy, an AccessDeniedException). ``requests`` records (operation, region, body) of each call.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

DATA = Path(__file__).parent / "data" / "aws_api"
ACCOUNT = "123456789012"


class AwsApiServer:
    def __init__(self, quotas: Path = DATA / "service_quotas.json", pricing: Path = DATA / "pricing_get_products.json",
                 page_size: int = 1):
        q = json.loads(quotas.read_text())
        self.defaults = {f"{x['ServiceCode']}/{x['QuotaCode']}": x for x in q["quotas"]}
        self.applied: dict[str, dict[str, float]] = copy.deepcopy(q["applied"])
        self.products = [json.dumps(p) for p in json.loads(pricing.read_text())["products"]]
        self.page_size = page_size
        self.throttle: dict[str, int] = {}  # operation -> ThrottlingException answers still to give
        self.down_after: dict[str, int] = {}  # operation -> answers given before it goes down (503) for good
        self.down: set[str] = set()
        self.expired = False
        self.drop_fields: tuple[str, ...] = ()
        self.fail: dict[str, tuple[int, str, str]] = {}
        self.requests: list[tuple[str, str, dict]] = []
        self._server: ThreadingHTTPServer | None = None

    # -- lifecycle

    def __enter__(self) -> "AwsApiServer":
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                target = self.headers.get("X-Amz-Target", "")
                m = re.search(r"Credential=[^/]+/\d+/([a-z0-9-]+)/", self.headers.get("Authorization", ""))
                region = m.group(1) if m else ""
                status, answer = server.answer(target.split(".")[-1], region, body)
                ctype = "application/x-amz-json-1.1"
                if isinstance(answer, tuple):  # a raw answer (fail)
                    ctype, data = answer[0], answer[1].encode()
                else:
                    data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("x-amzn-RequestId", "aiinfra-test-0000")
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    @property
    def endpoint(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def env(self) -> dict[str, str]:
        return {"AWS_ENDPOINT_URL_SERVICE_QUOTAS": self.endpoint, "AWS_ENDPOINT_URL_PRICING": self.endpoint}

    def calls(self, operation: str, region: str | None = None) -> list[dict]:
        return [b for op, r, b in self.requests if op == operation and (region is None or r == region)]

    # -- answers

    def answer(self, op: str, region: str, body: dict) -> tuple[int, dict | tuple[str, str]]:
        self.requests.append((op, region, body))
        if op in self.fail:
            status, ctype, raw = self.fail[op]
            return status, (ctype, raw)
        if self.expired:
            return 400, {"__type": "ExpiredTokenException", "message": "The security token included in the request is expired"}
        if op in self.down_after:
            if self.down_after[op] <= 0:
                return 503, {"__type": "ServiceUnavailableException", "message": "Service Unavailable"}
            self.down_after[op] -= 1
        if region in self.down:
            return 503, {"__type": "ServiceUnavailableException", "message": "Service Unavailable"}
        if self.throttle.get(op, 0) > 0:
            self.throttle[op] -= 1
            return 400, {"__type": "ThrottlingException", "message": "Rate exceeded"}
        if op in ("GetServiceQuota", "GetAWSDefaultServiceQuota"):
            key = f"{body.get('ServiceCode')}/{body.get('QuotaCode')}"
            quota = self.defaults.get(key)
            if quota is None:
                return 400, {"__type": "NoSuchResourceException", "message": f"The request failed because the specified quota {key} does not exist."}
            if op == "GetServiceQuota":
                value = self.applied.get(region, {}).get(key)
                if value is None:
                    return 400, {"__type": "NoSuchResourceException", "message": "The request failed because the specified resource does not exist."}
                quota = {**quota, "Value": value}
            quota = {**quota, "QuotaArn": f"arn:aws:servicequotas:{region}:{ACCOUNT if op == 'GetServiceQuota' else ''}:{key}"}
            for f in self.drop_fields:
                quota.pop(f, None)
            return 200, {"Quota": quota}
        if op == "GetProducts":
            filters = {f["Field"]: f["Value"] for f in body.get("Filters", [])}
            match = [p for p in self.products if all(json.loads(p)["product"]["attributes"].get(k) == v for k, v in filters.items())]
            start = int(body.get("NextToken") or 0)
            page = match[start:start + self.page_size]
            out = {"FormatVersion": "aws_v1", "PriceList": page}
            if start + self.page_size < len(match):
                out["NextToken"] = str(start + self.page_size)
            return 200, out
        return 400, {"__type": "UnknownOperationException", "message": f"unknown operation {op}"}
