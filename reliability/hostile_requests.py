"""Hostile requests: what a self-registered user, a removed member and a leaked API key send,
each with the answer the docs promise asserted (never a 5xx, and the documented status).

Against a fresh app on waitress on 127.0.0.1 (SQLite, or ``--database-url``), with the real
model. Names other than ``localhost`` resolve through a stand-in resolver in this process
(``targets.lookup``), never a DNS server; every webhook URL here is refused before any
connection, so nothing leaves loopback. A bounded list: a few hundred requests, about a
minute on 2 cores.

1. Webhook URLs: IPv6 forms that carry an IPv4 address (NAT64 64:ff9b::/96, ::a.b.c.d,
   6to4 2002::/16, ::ffff:0:a.b.c.d), fullwidth and other non-ASCII hosts, and names that
   resolve to loopback, to a private address or not at all: a 422 whose words are the same
   for each and never say what a name resolves to (docs/webhooks.md).
2. A removed member's writes through their own scans, and their replay of a project scan:
   403 (read-only) and 404, the project's register unchanged (docs/security.md).
3. An API key on every /api/ route: a key of another scope is a 403 naming the one needed
   (tests/test_key_scopes.py's hand-written table), its own scope gets past (< 500); an
   ``admin:write`` key changes no other admin; a ``scans:write`` key's replay of a project
   scan's ``Idempotency-Key`` is the 403 it gets without the header.
4. Date filters at the edges of what a database holds: 422 naming the field.

    python -m reliability.hostile_requests --model-dir models_cache
"""

from __future__ import annotations

import argparse
import socket
import sys
import uuid
from dataclasses import dataclass, field
from typing import ClassVar

import requests

PASSWORD = "correct horse battery"
RISKY = "The budget is overrun by a third. The vendor may not deliver the licences."
NOT_ALLOWED = ("The URL is not allowed: a webhook's host must be a public address, or a name "
               "that resolves only to public addresses (WEBHOOK_ALLOWED_NETWORKS may allow "
               "others).")
NOT_A_DOMAIN = "The URL's host is not a valid domain name."
READ_ONLY = "You are not a member of this scan's project: you may read it, not change it."
SCOPE_DENIED = "This API key lacks the scope {}."
#: Refused by the address they carry, however spelled; names resolve through Resolver.
REFUSED_URLS = [
    "http://[64:ff9b::7f00:1]/", "http://[64:ff9b::127.0.0.1]:8080/hook",
    "http://[64:ff9b::a9fe:a9fe]/latest/meta-data/", "http://[::7f00:1]/",
    "http://[::127.0.0.1]/", "http://[::a01:203]:8080/", "http://[2002:7f00:1::1]/",
    "http://[2002:a9fe:a9fe::]/", "http://[::ffff:0:7f00:1]/", "http://[::ffff:0:10.0.0.1]/",
    "http://[::ffff:127.0.0.1]/", "http://[::1]:9/", "http://127.1/", "http://2130706433/",
    "http://ｌｏｃａｌｈｏｓｔ:9/hook", "http://ＬＯＣＡＬＨＯＳＴ./hook", "http://localhost:9/hook",
    "http://intranet.example/hook", "http://nowhere.example/hook",
    "http://ｉｎｔｒａｎｅｔ.example/hook",
]
#: Names: each refused in the very words of NOT_ALLOWED, whatever it resolves to, if at all.
REFUSED_NAMES = {url for url in REFUSED_URLS if "[" not in url and not url[7].isdigit()}
NOT_DOMAINS = ["http://☃.example/hook", "http://xn--a.example/hook", "http://a\u200db.example/"]
DATE_EDGES = [("created_after", "9999-12-31T23:59:59-14:00"),
              ("created_before", "0001-01-01T00:00:00+00:01"),
              ("created_after", "0001-01-01T00:00:00+14:00"),
              ("created_before", "9999-12-31T23:59:59.999999-00:01")]


class Resolver:
    """getaddrinfo for the run: localhost and intranet.example (a private address) resolve,
    any other name does not, and no DNS server is asked."""

    names: ClassVar[dict[str, list[str]]] = {"localhost": ["127.0.0.1"],
                                             "intranet.example": ["10.1.2.3"]}

    def __call__(self, host, port, type=0, **_):
        if host not in self.names:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))
                for address in self.names[host]]


@dataclass
class Report:
    checks: dict[str, bool] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    requests: int = 0

    def check(self, name: str, ok: bool, detail: str = "") -> None:
        self.checks[name] = self.checks.get(name, True) and bool(ok)
        if not ok:
            self.problems.append(f"{name}: {detail}"[:600])

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(self.checks.values())

    def text(self) -> str:
        lines = [f"{'PASS' if ok else 'FAIL'}  {name}" for name, ok in self.checks.items()]
        lines.append(f"  requests: {self.requests}")
        return "\n".join(lines + [f"PROBLEM {p}" for p in self.problems[:40]])


class Api:
    def __init__(self, base_url: str, report: Report):
        self.base_url, self.report = base_url, report
        self.http = requests.Session()

    def __call__(self, method: str, path: str, headers=None, **kwargs) -> requests.Response:
        self.report.requests += 1
        return self.http.request(method, self.base_url + path, headers=headers or {},
                                 timeout=30, allow_redirects=False, **kwargs)

    def user(self, app=None, role: str = "user") -> tuple[str, dict]:
        email = f"hostile-{uuid.uuid4().hex[:10]}@example.com"
        made = self("POST", "/api/v1/auth/register", json={"email": email, "password": PASSWORD})
        assert made.status_code == 201, made.text
        if role != "user":
            from service.db import User
            from service.extensions import db

            with app.app_context():
                db.session.get(User, made.json()["id"]).role = role
                db.session.commit()
        token = self("POST", "/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        return made.json()["id"], {"Authorization": f"Bearer {token.json()['access_token']}"}

    def key(self, headers: dict, *scopes: str) -> dict:
        made = self("POST", "/api/v1/auth/api-keys", headers,
                    json={"name": "hostile", "scopes": list(scopes)})
        assert made.status_code == 201, made.text
        return {"Authorization": f"Bearer {made.json()['key']}"}

    def created(self, response: requests.Response) -> dict:
        assert response.status_code == 201, response.text
        return response.json()


def problem(response: requests.Response, status: int, detail: str | None = None,
            field_name: str | None = None) -> bool:
    """``status`` as problem+json (with ``detail`` and the field named, when given)."""
    if response.status_code != status or not response.headers.get(
            "Content-Type", "").startswith("application/problem+json"):
        return False
    body = response.json()
    return ((detail is None or body.get("detail") == detail)
            and (field_name is None or field_name in (body.get("errors") or {})))


def _seen(response: requests.Response) -> str:
    sent = response.request.body if response.request.method != "GET" else b""
    sent = sent.decode(errors="replace") if isinstance(sent, bytes) else (sent or "")
    return f"{response.request.method} {response.request.path_url} {sent[:120]} -> " \
           f"{response.status_code} {response.text[100:400]}"


# --------------------------------------------------------------------------- 1. webhooks

def webhook_urls(api: Api, report: Report) -> None:
    _, owner = api.user()
    project = api.created(api("POST", "/api/v1/projects", owner, json={"name": "hooks"}))["id"]
    hooks = f"/api/v1/projects/{project}/webhooks"
    for url in REFUSED_URLS:
        response = api("POST", hooks, owner, json={"url": url, "events": ["risk.created"]})
        named = url in REFUSED_NAMES
        # An address spelled past what a URL allows (marshmallow's Url) is refused as one.
        report.check("webhooks: an address carried in IPv6, a fullwidth or a private name is "
                     "a 422 on the url", problem(response, 422, None, "url")
                     and (response.json()["detail"] == NOT_ALLOWED or not named
                          and response.json()["errors"]["url"] == ["Not a valid URL."]),
                     _seen(response))
        report.check("webhooks: a refusal never says what a name resolves to, or whether",
                     not any(word in response.text.replace(NOT_ALLOWED, "") for word in
                             ("resolve", "127.0.0.1", "10.1.2.3", "loopback", "private")),
                     _seen(response))
    for url in NOT_DOMAINS:
        response = api("POST", hooks, owner, json={"url": url, "events": ["risk.created"]})
        report.check("webhooks: a host that is no domain name is a 422 in words",
                     problem(response, 422, NOT_A_DOMAIN, "url"), _seen(response))
    listed = api("GET", hooks, owner)
    report.check("webhooks: no refused URL was saved",
                 listed.status_code == 200 and listed.json().get("items") == [], _seen(listed))


# --------------------------------------------------------------------------- 2. members

def removed_member(api: Api, report: Report) -> None:
    _, owner = api.user()
    editor_id, editor = api.user()
    project = api.created(api("POST", "/api/v1/projects", owner, json={"name": "team"}))["id"]
    members = f"/api/v1/projects/{project}/members"
    email = api("GET", "/api/v1/auth/me", editor).json()["email"]
    api.created(api("POST", members, owner, json={"email": email, "role": "editor"}))
    scan = api.created(api("POST", "/api/v1/scans", {**editor, "Idempotency-Key": "week-1"},
                           json={"text": RISKY, "project_id": project}))
    register = f"/api/v1/projects/{project}/risks?per_page=100"
    before = api("GET", register, owner).json()
    removed = api("DELETE", f"{members}/{editor_id}", owner)
    report.check("members: the owner removes the editor", removed.status_code == 204,
                 _seen(removed))
    url = f"/api/v1/scans/{scan['scan_id']}"
    attempts = [api("PATCH", f"{url}/findings/{f['id']}", editor, json={"category": "none"})
                for f in scan["data"][:2]]
    attempts += [api("PATCH", url, editor, json={"project_id": None}),
                 api("DELETE", url, editor), api("DELETE", f"/api/scans/{scan['scan_id']}",
                                                 editor)]
    if scan["data"]:
        attempts.append(api("DELETE", f"{url}/findings/{scan['data'][0]['id']}", editor))
    for response in attempts:
        report.check("members: a removed member's writes through their own scan are 403",
                     problem(response, 403, READ_ONLY), _seen(response))
    replay = api("POST", "/api/v1/scans", {**editor, "Idempotency-Key": "week-1"},
                 json={"text": RISKY, "project_id": project})
    report.check("members: a removed member gets no replay of a project scan (404)",
                 problem(replay, 404, "No such project.")
                 and "Idempotent-Replayed" not in replay.headers, _seen(replay))
    after = api("GET", register, owner).json()
    kept = api("GET", url, editor)
    report.check("members: nothing written: the register as it was, the scan still the "
                 "project's and readable", before == after and kept.status_code == 200
                 and kept.json()["project_id"] == project, _seen(kept))


# --------------------------------------------------------------------------- 3. API keys

def key_scopes(app, api: Api, report: Report) -> None:
    from service.auth.scopes import ROLE_SCOPES, SCOPES
    from tests.authorization import KEY_SCOPES, NO_KEY, missing_ids, protected_routes, url_for_rule

    routes = {(method, rule) for method, rule, _, _ in protected_routes(app)}
    report.check("keys: the hand-written table names every protected route",
                 routes == set(KEY_SCOPES), str(routes ^ set(KEY_SCOPES)))
    _, user = api.user()
    _, admin = api.user(app, role="admin")
    keys = {scope: api.key(admin if scope in ROLE_SCOPES else user, scope)
            for scope in sorted(SCOPES)}
    ordered = sorted(routes & set(KEY_SCOPES), key=lambda route: route[0] == "DELETE")
    for scope, headers in keys.items():
        for method, rule in ordered:
            needed = KEY_SCOPES[(method, rule)]
            response = api(method, url_for_rule(rule, missing_ids()), headers)
            if needed == scope:
                report.check("keys: a key gets past every route of its scope (< 500, no "
                             "401/403)", response.status_code < 500
                             and response.status_code not in (401, 403), _seen(response))
            else:
                report.check("keys: a key of another scope is a 403 naming the one needed",
                             problem(response, 403, NO_KEY if needed is None
                                     else SCOPE_DENIED.format(needed)), _seen(response))

    other_id, _ = api.user(app, role="admin")
    writer = keys["admin:write"]
    for method, body in (("PATCH", {"active": False}), ("PATCH", {"role": "user"}),
                         ("DELETE", None)):
        response = api(method, f"/api/v1/users/{other_id}", writer, json=body)
        report.check("keys: an admin:write key changes no other admin's role, state or "
                     "existence (403)", problem(response, 403), _seen(response))
    other = api("GET", f"/api/v1/users/{other_id}", admin)
    report.check("keys: the other admin is as they were", other.status_code == 200
                 and other.json()["role"] == "admin" and other.json()["active"], _seen(other))

    _, owner = api.user()
    project = api.created(api("POST", "/api/v1/projects", owner, json={"name": "replay"}))["id"]
    body = {"text": RISKY, "project_id": project}
    first = api.created(api("POST", "/api/v1/scans", {**owner, "Idempotency-Key": "r-1"},
                            json=body))
    scans_only = api.key(owner, "scans:write")
    for extra in ({}, {"Idempotency-Key": "r-1"}):
        response = api("POST", "/api/v1/scans", {**scans_only, **extra}, json=body)
        report.check("keys: a scans:write key's replay of a project scan is the 403 it gets "
                     "without the header", problem(response, 403,
                                                   SCOPE_DENIED.format("projects:write"))
                     and first["scan_id"] not in response.text, _seen(response))
    listed = api("GET", "/api/v1/scans", owner).json()
    report.check("keys: no scan stored by the refused replays", listed["total"] == 1,
                 str(listed.get("total")))


# --------------------------------------------------------------------------- 4. dates

def date_edges(api: Api, report: Report) -> None:
    _, user = api.user()
    for name, value in DATE_EDGES:
        response = api("GET", "/api/v1/scans", user, params={name: value})
        report.check("dates: a time outside years 1-9999 in UTC is a 422 naming the field",
                     problem(response, 422, field_name=name), _seen(response))


def run_hostile_requests(model_dir: str, database_url: str = "") -> Report:
    import os
    import tempfile

    from flask_migrate import upgrade

    from reliability.servers import serve_in_thread, warmed
    from service import create_app
    from service.config import Settings
    from service.webhooks import targets

    report = Report()
    lookup, targets.lookup = targets.lookup, Resolver()
    try:
        with tempfile.TemporaryDirectory(prefix="riskscan-hostile-") as tmp:
            settings = Settings.from_env(
                {}, RISKSCAN_ENV="testing", SECRET_KEY="hostile-" + uuid.uuid4().hex,
                DATABASE_URL=database_url or f"sqlite:///{tmp}/hostile.db",
                MODEL_DIR=model_dir or os.environ.get("MODEL_DIR", "models_cache"),
                UPLOAD_DIR=f"{tmp}/uploads", LOG_LEVEL="ERROR", LOG_FORMAT="text",
                RATE_LIMIT_ENABLED=False)
            app = warmed(create_app(settings))
            with app.app_context():
                upgrade()
            try:
                with serve_in_thread(app) as base_url:
                    api = Api(base_url, report)
                    webhook_urls(api, report)
                    removed_member(api, report)
                    key_scopes(app, api, report)
                    date_edges(api, report)
            finally:
                engine = app.extensions.get("riskscan.jobs")
                if hasattr(engine, "shutdown"):
                    engine.shutdown()
    finally:
        targets.lookup = lookup
    return report


def _cli() -> int:
    import os

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", default="", help="default: MODEL_DIR or models_cache")
    parser.add_argument("--database-url", default="", help="default: a fresh SQLite file")
    args = parser.parse_args()
    report = run_hostile_requests(args.model_dir or os.environ.get("MODEL_DIR", "models_cache"),
                                  args.database_url)
    print(report.text())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(_cli())
