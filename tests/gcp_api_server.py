"""A local stand-in for the Compute Engine v1 and Cloud Billing Catalog v1 REST APIs, for the tests
of ``aiinfra.preflight.gcp`` and ``aiinfra.catalog.live_gcp``.

It replays recorded responses (``tests/data/gcp_api/``, README there) in the APIs' JSON wire format
to the real google-cloud-compute / google-cloud-billing clients (REST transport), which reach it
through ``AIINFRA_GCP_COMPUTE_ENDPOINT`` / ``AIINFRA_GCP_BILLING_ENDPOINT``. It also answers the
OAuth2 token endpoint, so the real credential chain runs: a test writes a service-account key file
(a fresh RSA key, ``token_uri`` = ``<server>/token``) and points GOOGLE_APPLICATION_CREDENTIALS at
it; ``google.auth.default()`` loads it and the clients sign their requests with it (the Cloud
client libraries use a self-signed JWT for service accounts; a token exchange at ``/token`` is
answered too). The server checks each request's ``Authorization: Bearer`` JWT against the key's
public half (RS256) and answers 401, as Google does, when it does not verify.
(``authorized_user`` files cannot be used: google-auth always sends those to
oauth2.googleapis.com, whatever their ``token_uri``.)

Usage::

    with GcpApiServer() as api:
        api.override("/compute/v1/projects/p/regions/us-central1", status=429, times=2)  # then the recording
        api.override("/compute/v1/projects/p/regions/us-east1", status=503)              # always
        api.override(path, body={...})                                                  # a replaced answer
        ... run the code with api.env(tmp_path) in os.environ ...
        api.requests_to(path)   # what the server received (method, path, query, headers)

Routes (``{p}`` any project; a resource absent from the recordings answers the API's 404 body):

- GET /compute/v1/projects/{p}/regions/{region}                         -> regions/{region}.json
- GET /compute/v1/projects/{p}/zones/{zone}/machineTypes[/{name}]       -> machine_types/{zone}.json (a list)
- GET /compute/v1/projects/{p}/zones/{zone}/acceleratorTypes[/{name}]   -> accelerator_types/{zone}.json
- GET /compute/v1/projects/{p}/zones/{zone}/reservations/{name}         -> reservations/{zone}.json
- GET /v1/services/{service}/skus[?pageToken=T]                         -> billing/skus-page-1.json, then the
  page its ``nextPageToken`` names (billing/skus-{token}.json)
- POST /token                                                           -> an access token (Bearer)
"""

from __future__ import annotations

import base64
import copy
import json
import re
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self

DATA_DIR = Path(__file__).parent / "data" / "gcp_api"
ACCESS_TOKEN = "ya29.a0-aiinfra-test-token"
COMPUTE = "https://www.googleapis.com/compute/v1"

# The error bodies as the APIs return them (https://cloud.google.com/compute/docs/api/handling-errors#errors-and-responses;
# the Billing API uses the newer form with "status").
_REASONS = {400: ("invalid", "INVALID_ARGUMENT"), 401: ("authError", "UNAUTHENTICATED"), 403: ("forbidden", "PERMISSION_DENIED"),
            404: ("notFound", "NOT_FOUND"), 429: ("rateLimitExceeded", "RESOURCE_EXHAUSTED"), 500: ("backendError", "INTERNAL"),
            503: ("backendError", "UNAVAILABLE")}


def error_body(code: int, message: str) -> dict:
    reason, status = _REASONS.get(code, ("backendError", "UNKNOWN"))
    domain = "usageLimits" if code == 429 else "global"
    return {"error": {"code": code, "message": message, "errors": [{"message": message, "domain": domain, "reason": reason}],
                      "status": status}}


_MESSAGES = {
    403: "Required '{perm}' permission for '{resource}'",
    429: "Quota exceeded for quota metric 'Read requests' and limit 'Read requests per minute' of service "
         "'compute.googleapis.com' for consumer 'project_number:123456789012'.",
    500: "Internal error. Please try again or contact Google Support. (Code: '6F0D5A1B2C3D4.E5F6A7B.8C9D0E1F')",
    503: "The service is currently unavailable.",
}


@dataclass
class Override:
    status: int = 200
    body: Any = None  # None: the recording (status 200) or the API's error body for status
    times: int | None = None  # None: always
    served: int = 0


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # names in lower case
    body: str = ""


@dataclass
class GcpApiServer:
    data_dir: Path = DATA_DIR
    token_status: int = 200
    verify_with: Any = None  # the RSA public key requests must be signed with (set by write_credentials)
    requests: list[Request] = field(default_factory=list)
    overrides: dict[str, list[Override]] = field(default_factory=dict)

    def __post_init__(self):
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle

    def start(self) -> Self:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                status, payload = server.answer(self.command, self.path, dict(self.headers), body)
                # A str body is sent as it is, as HTML (what a proxy or load balancer in the way answers).
                raw = isinstance(payload, str)
                data = payload.encode() if raw else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=UTF-8" if raw else "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _handle

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="gcp-api-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._httpd is not None, "start() the server first"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def write_credentials(self, directory: Path, signed_by_other_key: bool = False) -> Path:
        """A service-account key file (as the console's "Create key" downloads it) with a fresh RSA
        key and this server's token endpoint. ``signed_by_other_key``: the server verifies against a
        different key, so every request is refused (401), as for a deleted or rotated key."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048) if signed_by_other_key else key
        self.verify_with = other.public_key()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
        email = "aiinfra-preflight@aiinfra-test.iam.gserviceaccount.com"
        path = directory / "aiinfra-test-sa.json"
        path.write_text(json.dumps({
            "type": "service_account", "project_id": "aiinfra-test", "private_key_id": "3f2a9c1e5b7d4a6f8e0c2b4d6f8a0c2e4b6d8f0a",
            "private_key": pem, "client_email": email, "client_id": "104857600000000000001",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth", "token_uri": f"{self.url}/token",
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_x509_cert_url": f"https://www.googleapis.com/robot/v1/metadata/x509/{email.replace('@', '%40')}",
            "universe_domain": "googleapis.com"}))
        return path

    def env(self, directory: Path) -> dict[str, str]:
        """Everything the clients need to use this server with real credentials from the default chain."""
        return {"GOOGLE_APPLICATION_CREDENTIALS": str(self.write_credentials(directory)),
                "AIINFRA_GCP_COMPUTE_ENDPOINT": self.url, "AIINFRA_GCP_BILLING_ENDPOINT": self.url,
                "CLOUDSDK_CONFIG": str(directory / "gcloud"), "NO_GCE_CHECK": "true", "GCE_METADATA_HOST": "127.0.0.1:1",
                "GCE_METADATA_IP": "127.0.0.1:1", "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}

    # -- configuration

    def override(self, path: str, status: int = 200, body: Any = None, times: int | None = None) -> None:
        """Answer ``path`` with ``status`` / ``body`` (``times`` times, then the next override or the
        recording; None: always). Overrides of one path are served in the order they were added. A
        ``str`` body goes out as an HTML page, not an API error."""
        with self._lock:
            self.overrides.setdefault(path, []).append(Override(status, body, times))

    def recording(self, relpath: str) -> Any:
        """A recorded body (a deep copy, to edit into an override)."""
        return copy.deepcopy(json.loads((self.data_dir / relpath).read_text()))

    def requests_to(self, path: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    # -- answering

    def answer(self, method: str, raw_path: str, headers: dict[str, str], body: str) -> tuple[int, Any]:
        parsed = urllib.parse.urlsplit(raw_path)
        path, query = parsed.path, urllib.parse.parse_qs(parsed.query)
        headers = {k.lower(): v for k, v in headers.items()}
        with self._lock:
            self.requests.append(Request(method, path, query, headers, body))
            pending = self.overrides.get(path, [])
            while pending and pending[0].times is not None and pending[0].served >= pending[0].times:
                pending.pop(0)
            ov = pending[0] if pending else None
            if ov is not None:
                ov.served += 1
        if path == "/token" and method == "POST":
            return self._token(body)
        auth = headers.get("authorization", "")
        if not auth.startswith("Bearer "):
            return 401, error_body(401, "Request is missing required authentication credential. Expected OAuth 2 access token.")
        if not self._authorized(auth.removeprefix("Bearer ")):
            return 401, error_body(401, "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie "
                                        "or other valid authentication credential.")
        if ov is not None:
            if ov.body is not None:
                return ov.status, ov.body
            if ov.status != 200:
                msg = _MESSAGES.get(ov.status, "error").format(perm=_permission(path), resource=_resource(path))
                return ov.status, error_body(ov.status, msg)
        return self._recorded(path, query)

    def _authorized(self, token: str) -> bool:
        if token == ACCESS_TOKEN:
            return True
        return self.verify_with is not None and verify_jwt(token, self.verify_with) is not None

    def _token(self, body: str) -> tuple[int, Any]:
        form = urllib.parse.parse_qs(body)
        grant = (form.get("grant_type") or [""])[0]
        ok = grant == "urn:ietf:params:oauth:grant-type:jwt-bearer" and self.verify_with is not None and \
            verify_jwt((form.get("assertion") or [""])[0], self.verify_with) is not None
        if self.token_status != 200 or not ok:
            return 400, {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}
        return 200, {"access_token": ACCESS_TOKEN, "expires_in": 3599, "token_type": "Bearer",
                     "scope": "https://www.googleapis.com/auth/cloud-platform"}

    def _file(self, relpath: str) -> Any | None:
        p = self.data_dir / relpath
        return json.loads(p.read_text()) if p.exists() else None

    def _recorded(self, path: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        m = re.fullmatch(r"/compute/v1/projects/([^/]+)/regions/([^/]+)", path)
        if m:
            body = self._file(f"regions/{m[2]}.json")
            return (200, _project(body, m[1])) if body else self._not_found(path)
        m = re.fullmatch(r"/compute/v1/projects/([^/]+)/zones/([^/]+)/(machineTypes|acceleratorTypes|reservations)(?:/([^/]+))?", path)
        if m:
            project, zone, kind, name = m.groups()
            folder = {"machineTypes": "machine_types", "acceleratorTypes": "accelerator_types", "reservations": "reservations"}[kind]
            listing = self._file(f"{folder}/{zone}.json") or {}
            items = listing.get("items", [])
            if name is None:
                return 200, _project(listing or {"kind": f"compute#{kind[:-1]}List", "items": []}, project)
            item = next((i for i in items if i.get("name") == name), None)
            return (200, _project(item, project)) if item else self._not_found(path)
        m = re.fullmatch(r"/v1/services/([^/]+)/skus", path)
        if m:
            token = (query.get("pageToken") or [""])[0]
            body = self._file(f"billing/skus-{token or 'page-1'}.json")
            if body is None:
                return 400, error_body(400, f"Invalid page token: {token}")
            return 200, body
        return 404, error_body(404, f"The requested URL {path} was not found on this server.")

    def _not_found(self, path: str) -> tuple[int, Any]:
        return 404, error_body(404, f"The resource '{_resource(path)}' was not found")


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def verify_jwt(token: str, public_key: Any) -> dict | None:
    """The claims of an RS256 JWT signed by ``public_key``'s private half, else None."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    try:
        head, payload, sig = token.split(".")
        if json.loads(_b64(head)).get("alg") != "RS256":
            return None
        public_key.verify(_b64(sig), f"{head}.{payload}".encode(), padding.PKCS1v15(), hashes.SHA256())
        return json.loads(_b64(payload))
    except (ValueError, InvalidSignature):
        return None


def _resource(path: str) -> str:
    return path.removeprefix("/compute/v1/")


def _permission(path: str) -> str:
    if "/v1/services/" in path:
        return "billing.services.skus.list"
    for part, perm in (("/reservations", "compute.reservations.get"), ("/acceleratorTypes", "compute.acceleratorTypes.get"),
                       ("/machineTypes", "compute.machineTypes.get"), ("/regions/", "compute.regions.get")):
        if part in path:
            return perm
    return "compute.projects.get"


def _project(body: Any, project: str) -> Any:
    """The recording with its project placeholder (``PROJECT``) replaced in selfLinks and zone URLs."""
    return json.loads(json.dumps(body).replace("/projects/PROJECT/", f"/projects/{project}/"))
