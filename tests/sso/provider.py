"""A real OpenID provider for the tests (oidc_provider.mjs on oidc-provider), and a person
at its pages.

``oidc_provider`` (session-scoped) writes the provider's configuration: a signing key made
here, so that tests can also sign tokens with the provider's real key (another audience,
another issuer, expired) and with the wrong algorithms; the clients Riskscan is (a
confidential web client for the Flask test client, a public native one for Chromium on
any loopback port, a client-credentials one whose JWTs name a person); and the accounts,
which a test may change between sign-ins (``set_account``). Without node or the package
the tests skip, and fail where CI requires the real parts (tests/real_parts.py).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import selectors
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.real_parts import require_or_skip

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "oidc_provider.mjs"
PACKAGE = HERE.parent / "e2e" / "node_modules" / "oidc-provider"
READY_TIMEOUT_S = 30

CLIENT_ID, CLIENT_SECRET = "riskscan", "riskscan-client-secret-0123456789abcdef"
CONSOLE_CLIENT_ID = "riskscan-console"  # public, native: any loopback port (RFC 8252)
ROBOT_ID, ROBOT_SECRET = "robot", "robot-client-secret-0123456789abcdef"
ROBOT_EMAIL = "robot@example.com"
API_AUDIENCE = "https://api.riskscan.test"
TEST_APP = "http://localhost"  # the Flask test client's host
ALLOWED, ADMINS = "riskscan", "riskscan-admins"

ACCOUNTS = {
    "ada": {"email": "ada@example.com", "email_verified": True, "groups": [ALLOWED]},
    "grace": {"email": "grace@example.com", "email_verified": True, "groups": [ADMINS]},
    "eve": {"email": "eve@example.com", "email_verified": True, "groups": ["marketing"]},
    "mallory": {"email": "mallory@example.com", "email_verified": False,
                "groups": [ALLOWED]},
}


@dataclass
class OidcProvider:
    issuer: str
    key: RSAKey
    accounts_file: Path
    accounts: dict = field(default_factory=dict)

    def settings(self, **overrides) -> dict:
        """Riskscan's settings for this provider (the confidential client)."""
        return {"OIDC_ISSUER": self.issuer, "OIDC_CLIENT_ID": CLIENT_ID,
                "OIDC_CLIENT_SECRET": CLIENT_SECRET, "OIDC_NAME": "Example SSO",
                "OIDC_ALLOWED_GROUPS": (ALLOWED,), "OIDC_ADMIN_GROUPS": (ADMINS,),
                "OIDC_API_AUDIENCE": API_AUDIENCE, "SSO_TIMEOUT_S": 3.0, **overrides}

    def set_account(self, login: str, **claims) -> None:
        self.accounts[login] = {**self.accounts.get(login, {}), **claims}
        self.accounts_file.write_text(json.dumps(self.accounts))

    def reset_accounts(self) -> None:
        self.accounts = json.loads(json.dumps(ACCOUNTS))
        self.accounts_file.write_text(json.dumps(self.accounts))

    def sign(self, claims: dict | None = None, *, alg: str = "RS256", key=None,
             header: dict | None = None, **changes) -> str:
        """A JWT signed with the provider's own key (or ``key``): by default an ID token
        of ada for Riskscan's client, valid now."""
        now = int(time.time())
        body = {"iss": self.issuer, "sub": "ada", "aud": CLIENT_ID, "iat": now,
                "exp": now + 300, **ACCOUNTS["ada"], **(claims or {}), **changes}
        return jwt.encode({"alg": alg, "kid": self.key.kid, **(header or {})}, body,
                          key or self.key, algorithms=[alg])

    def unsigned(self, claims: dict | None = None, *, alg: str = "none", sign=None,
                 **changes) -> str:
        """As ``sign``, but signed by ``sign(signing input) -> bytes`` (none: no signature),
        for the algorithms no honest library signs with: ``none``, HS256 with a public key."""
        now = int(time.time())
        body = {"iss": self.issuer, "sub": "ada", "aud": CLIENT_ID, "iat": now,
                "exp": now + 300, **ACCOUNTS["ada"], **(claims or {}), **changes}
        head = ".".join(_b64(json.dumps(part).encode())
                        for part in ({"alg": alg, "kid": self.key.kid}, body))
        return f"{head}.{_b64(sign(head.encode()) if sign else b'')}"

    def hs256_with_public_key(self, claims: dict | None = None, **changes) -> str:
        """The key-confusion forgery: HMAC keyed with the provider's public key (PEM), which
        a verifier taking the JWT's word for the algorithm would check with that key."""
        pem = self.key.as_pem(private=False)
        return self.unsigned(claims, alg="HS256", **changes,
                             sign=lambda data: hmac.new(pem, data, hashlib.sha256).digest())

    def robot_token(self) -> str:
        """A JWT access token the provider issues to the client-credentials client."""
        answer = requests.post(f"{self.issuer}/token", auth=(ROBOT_ID, ROBOT_SECRET), data={
            "grant_type": "client_credentials", "scope": "api", "resource": API_AUDIENCE},
            timeout=10)
        answer.raise_for_status()
        return answer.json()["access_token"]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims_of(token: str) -> dict:
    """A JWT's claims, unverified: what a test forges a variation of."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


class _Forms(HTMLParser):
    """The forms of a page: action, method and the inputs' names and values."""

    def __init__(self):
        super().__init__()
        self.forms: list[dict] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.forms.append({"action": attrs.get("action") or "",
                               "method": (attrs.get("method") or "get").upper(), "fields": {}})
        elif tag == "input" and self.forms and attrs.get("name"):
            self.forms[-1]["fields"][attrs["name"]] = attrs.get("value") or ""


class Person:
    """A person's browser at the provider's pages (requests: one session of cookies). It
    follows the provider's redirects and stops at the first that leaves the provider."""

    def __init__(self, provider: OidcProvider):
        self.provider, self.http = provider, requests.Session()

    def _go(self, method: str, url: str, data=None):
        """A redirect leaving the provider (its URL, str), or a page of the provider."""
        while True:
            answer = self.http.request(method, url, data=data, allow_redirects=False,
                                       timeout=10)
            if not answer.is_redirect:
                return answer
            url, method, data = urljoin(url, answer.headers["Location"]), "GET", None
            if not url.startswith(self.provider.issuer + "/"):
                return url

    def sign_in(self, authorize_url: str, login: str, *, consent: bool = True) -> str:
        """Log in as ``login`` and consent: the URL the provider sends the browser back to."""
        where = self._go("GET", authorize_url)
        while not isinstance(where, str):
            forms = _Forms()
            forms.feed(where.text)
            assert forms.forms, where.text[:500]
            form = forms.forms[0]
            fields = dict(form["fields"])
            if fields.get("prompt") == "login":
                fields.update(login=login, password="anything")
            elif not consent:
                return where.url
            where = self._go(form["method"], urljoin(where.url, form["action"]), fields)
        return where

    def sign_out(self, end_session_url: str) -> str:
        """Confirm the provider's logout page: the URL it sends the browser back to."""
        where = self._go("GET", end_session_url)
        if isinstance(where, str):
            return where
        forms = _Forms()
        forms.feed(where.text)
        form = forms.forms[0]
        back = self._go("POST", urljoin(where.url, form["action"]),
                        {**form["fields"], "logout": "yes"})
        assert isinstance(back, str), back.text[:500]
        return back


def _config(tmp: Path, key: RSAKey) -> Path:
    accounts_file = tmp / "accounts.json"
    accounts_file.write_text(json.dumps(ACCOUNTS))
    callback, back = "/app/sign-in/oidc/callback", "/app/sign-in"
    config = {
        "jwks": {"keys": [key.as_dict(private=True)]},
        "cookie_key": uuid.uuid4().hex,
        "accounts_file": str(accounts_file),
        "api_audience": API_AUDIENCE,
        "clients": [
            {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
             "redirect_uris": [TEST_APP + callback],
             "post_logout_redirect_uris": [TEST_APP + back],
             "grant_types": ["authorization_code"], "response_types": ["code"]},
            {"client_id": CONSOLE_CLIENT_ID, "application_type": "native",
             "token_endpoint_auth_method": "none",
             "redirect_uris": ["http://127.0.0.1" + callback],
             "post_logout_redirect_uris": ["http://127.0.0.1" + back],
             "grant_types": ["authorization_code"], "response_types": ["code"]},
            {"client_id": ROBOT_ID, "client_secret": ROBOT_SECRET, "scope": "api",
             "grant_types": ["client_credentials"], "response_types": [],
             "redirect_uris": []},
        ],
        "client_claims": {ROBOT_ID: {"email": ROBOT_EMAIL, "email_verified": True,
                                     "groups": [ALLOWED]}},
    }
    path = tmp / "provider.json"
    path.write_text(json.dumps(config))
    return path


def _ready_port(process: subprocess.Popen, log: Path) -> int:
    """The port of the "ready <port>" line; the wait ends on it, on exit, or at the bound."""
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + READY_TIMEOUT_S
    while (left := deadline - time.monotonic()) > 0:
        if not selector.select(left):
            break
        line = process.stdout.readline()
        if not line:
            break  # it exited
        if line.startswith("ready "):
            return int(line.split()[1])
    process.kill()
    raise RuntimeError(f"the OpenID provider did not start: {log.read_text()[-2000:]}")


@pytest.fixture(scope="session")
def oidc_provider(tmp_path_factory):
    node = shutil.which("node")
    if node is None or not PACKAGE.is_dir():
        require_or_skip("node or the oidc-provider package is missing "
                        "(npm ci --prefix tests/e2e)")
    tmp = tmp_path_factory.mktemp("oidc-provider")
    key = RSAKey.generate_key(2048, parameters={"kid": f"test-{uuid.uuid4().hex[:8]}",
                                                "use": "sig", "alg": "RS256"})
    log = tmp / "provider.log"  # a file: a pipe nobody reads would fill and stall it
    with log.open("w") as errors:
        process = subprocess.Popen([node, str(SCRIPT), str(_config(tmp, key))],
                                   stdout=subprocess.PIPE, stderr=errors, text=True)
    try:
        port = _ready_port(process, log)
        yield OidcProvider(f"http://127.0.0.1:{port}", key, tmp / "accounts.json",
                           json.loads(json.dumps(ACCOUNTS)))
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()


@pytest.fixture
def sso(make_app, oidc_provider):
    """``sso(**settings)``: an app signing in through the provider, and its test client."""
    oidc_provider.reset_accounts()

    def make(**overrides):
        app = make_app(**oidc_provider.settings(**overrides))
        return app, app.test_client()

    return make
