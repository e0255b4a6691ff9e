"""Where a webhook may point (SSRF, service/webhooks/targets.py): judged before any
connection, when it is saved and again before each attempt, by every address its host
resolves to, however spelled (IPv6 forms that carry an IPv4 address are judged by it); the
connection goes to the address judged, never to the name resolved again; a refusal says
the URL is not allowed, never what the name resolved to; a name in any script is sent as
its IDNA (punycode) name. Refused URLs are judged without a connection: an audit hook
records every socket.connect to prove it; names other than localhost resolve through a
stand-in resolver (``targets.lookup``), never a DNS server."""

from __future__ import annotations

import dataclasses
import socket

import pytest

from service.config import current_settings
from service.webhooks import targets
from service.webhooks.targets import Refused, judge
from tests import webhooks
from tests.helpers import assert_problem
from tests.projects import scan_into
from tests.webhooks import LOOPBACK, audit_events, create, deliveries_of, reached, settled

make_hooks_app, hooks_app, hooks = webhooks.make_hooks_app, webhooks.hooks_app, webhooks.hooks
receiver, connections = webhooks.receiver, webhooks.connections

NOT_ALLOWED = ("The URL is not allowed: a webhook's host must be a public address, or a name "
               "that resolves only to public addresses (WEBHOOK_ALLOWED_NETWORKS may allow "
               "others).")


class Resolver:
    """A stand-in for getaddrinfo: each name answers the addresses ``names`` gives it now
    (a test changes them: DNS rebinding), any other name does not resolve; ``asked`` is
    every name looked up."""

    def __init__(self, **names):
        self.names = {name.replace("_", "."): addresses for name, addresses in names.items()}
        self.asked: list[str] = []

    def __call__(self, host, port, type=0, **_):
        self.asked.append(host)
        if host not in self.names:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_STREAM,
                 6, "", (address, port)) for address in self.names[host]]


def new_project(client, headers) -> str:
    response = client.post("/api/v1/projects", headers=headers, json={"name": "p"})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def refused_at_save(client, headers, project_id, url) -> dict:
    response = client.post(f"/api/v1/projects/{project_id}/webhooks", headers=headers,
                           json={"url": url, "events": ["risk.created"]})
    body = assert_problem(response, 422, "url")
    assert body["errors"]["url"] == [body["detail"]]
    return body


def only_the_database(connections, receiver=None) -> bool:
    """No socket connected but the database's (on MariaDB, at 127.0.0.1) and never to the
    receiver."""
    port = receiver.server.server_port if receiver is not None else None
    return all(isinstance(address, tuple) and address[0] == "127.0.0.1" and address[1] != port
               for address in connections)


# Refused at save, by the address, however spelled


@pytest.mark.parametrize(("url", "kind"), [
    ("http://127.0.0.1:9/", "127.0.0.1, a loopback address"),
    ("http://10.0.0.1/hook", "10.0.0.1, a private address"),
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254, a cloud metadata address"),
    ("http://169.254.1.1/hook", "169.254.1.1, a link-local address"),
    ("http://[::1]:8080/hook", "::1, a loopback address"),
    ("http://[fd00::1]/hook", "fd00::1, a private address"),
    ("http://[fd00:ec2::254]/", "fd00:ec2::254, a cloud metadata address"),
    # IPv6 addresses that carry an IPv4 one: NAT64, local-use NAT64, IPv4-compatible,
    # SIIT, 6to4, Teredo.
    ("http://[64:ff9b::7f00:1]/", "carrying 127.0.0.1, a loopback address"),
    ("http://[64:ff9b::a00:1]/", "carrying 10.0.0.1, a private address"),
    ("http://[64:ff9b::a9fe:a9fe]/", "carrying 169.254.169.254, a cloud metadata address"),
    ("http://[64:ff9b:1::7f00:1]/", "64:ff9b:1::7f00:1, not a public address"),
    ("http://[64:ff9b:1::808:808]/", "64:ff9b:1::808:808, not a public address"),
    ("http://[::7f00:1]/", "carrying 127.0.0.1, a loopback address"),
    ("http://[::a01:203]:8080/", "carrying 10.1.2.3, a private address"),
    ("http://[::ffff:0:7f00:1]/", "carrying 127.0.0.1, a loopback address"),
    ("http://[::ffff:0:c0a8:101]/", "carrying 192.168.1.1, a private address"),
    ("http://[2002:7f00:1::1]/", "carrying 127.0.0.1, a loopback address"),
    ("http://[2002:a9fe:a9fe::]/", "carrying 169.254.169.254, a cloud metadata address"),
    ("http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/",
     "2001:0:4136:e378:8000:63bf:80ff:fffe, a private address"),
])
def test_a_url_of_a_loopback_private_link_local_or_metadata_address_is_refused_unconnected(
        app, client, accounts, connections, caplog, url, kind):
    """The refusal says the URL is not allowed; the log says why, for the operator."""
    caplog.set_level("INFO", logger="riskscan.webhooks")
    _, headers = accounts.user()
    project_id = new_project(client, headers)
    assert refused_at_save(client, headers, project_id, url)["detail"] == NOT_ALLOWED
    assert kind in caplog.text
    assert only_the_database(connections)
    listed = client.get(f"/api/v1/projects/{project_id}/webhooks", headers=headers)
    assert listed.get_json()["total"] == 0
    assert audit_events(app, "webhook_created") == []


@pytest.mark.parametrize("url", ["http://[64:ff9b::808:808]/", "http://[2002:808:808::1]/",
                                 "https://[::ffff:0:808:808]:8443/hook"])
def test_an_ipv6_address_that_carries_a_public_ipv4_address_is_public(url):
    """NAT64 is how an IPv6-only network reaches IPv4 receivers (DNS64 answers with it)."""
    target = judge(url)
    assert target.address == url.split("[")[1].split("]")[0]


@pytest.mark.parametrize(("url", "kind"), [
    ("http://[::127.0.0.1]/", "carrying 127.0.0.1, a loopback address"),
    ("http://[::ffff:0:10.0.0.1]/", "carrying 10.0.0.1, a private address"),
    ("http://[64:ff9b::169.254.169.254]/", "carrying 169.254.169.254, a cloud metadata"),
    ("http://[64:ff9b::100.64.0.1]:8080/", "carrying 100.64.0.1, not a public address"),
])
def test_an_ipv4_address_spelled_inside_an_ipv6_one_is_judged_as_ipv4(url, kind):
    """The dotted spellings the URL field refuses at save, as a resolver may answer them
    at send time."""
    with pytest.raises(Refused, match="^The URL is not allowed") as refused:
        judge(url)
    assert kind in refused.value.why


@pytest.mark.parametrize("url", ["http://0x7f.0.0.1/", "http://2130706433/",
                                 "http://127.1/", "http://[0:0:0:0:0:ffff:7f00:1]/",
                                 "http://[::ffff:127.0.0.1]/"])
def test_other_spellings_of_loopback_are_judged_by_the_address_they_resolve_to(url):
    with pytest.raises(Refused, match="^The URL is not allowed") as refused:
        judge(url)
    assert refused.value.why.endswith("127.0.0.1, a loopback address")
    assert judge(url, LOOPBACK).address == "127.0.0.1"


def test_the_refusal_never_says_what_a_name_resolves_to_or_whether_it_does(
        app, client, accounts, connections, receiver, monkeypatch, caplog):
    """A name that resolves to loopback, one that resolves to a private address and one
    that does not resolve at all are refused in the same words: the 422 maps no internal
    name. The log keeps what each resolved to."""
    caplog.set_level("INFO", logger="riskscan.webhooks")
    _, headers = accounts.user()
    project_id = new_project(client, headers)
    localhost = refused_at_save(client, headers, project_id,
                                f"http://localhost:{receiver.server.server_port}/hook")
    monkeypatch.setattr(targets, "lookup", Resolver(intranet_example=["10.1.2.3"]))
    private = refused_at_save(client, headers, project_id, "http://intranet.example/hook")
    missing = refused_at_save(client, headers, project_id, "http://nowhere.example/hook")
    assert localhost["detail"] == private["detail"] == missing["detail"] == NOT_ALLOWED
    assert "localhost resolves to 127.0.0.1, a loopback address" in caplog.text
    assert "intranet.example resolves to 10.1.2.3, a private address" in caplog.text
    assert "nowhere.example does not resolve" in caplog.text
    assert receiver.nothing_more() and only_the_database(connections, receiver)


def test_allowed_networks_let_loopback_in_and_nothing_else(hooks_app, hooks):
    create(hooks, "http://localhost:9/hook")
    response = hooks.client.post(f"/api/v1/projects/{hooks.id}/webhooks", headers=hooks.owner_h,
                                 json={"url": "http://10.0.0.1/", "events": ["risk.created"]})
    assert assert_problem(response, 422, "url")["detail"] == NOT_ALLOWED


def test_a_patch_to_a_refused_url_changes_nothing(hooks_app, hooks, receiver, connections):
    webhook = create(hooks, f"{receiver.url}/hook")
    path = f"/api/v1/projects/{hooks.id}/webhooks/{webhook['id']}"
    response = hooks.client.patch(path, headers=hooks.owner_h,
                                  json={"url": "http://[64:ff9b::a9fe:a9fe]/", "active": False})
    assert assert_problem(response, 422, "url")["detail"] == NOT_ALLOWED
    current = hooks.client.get(path, headers=hooks.owner_h).get_json()
    assert (current["url"], current["active"]) == (f"{receiver.url}/hook", True)
    assert only_the_database(connections, receiver)
    assert audit_events(hooks_app, "webhook_updated") == []


# Judged again at send time; the connection goes to the judged address


def test_the_connection_goes_to_the_judged_address_with_the_name_in_host(
        hooks_app, hooks, receiver, connections, monkeypatch):
    """The name is resolved once per attempt, by the judgment: the request arrives at the
    address judged, named in its Host header, and nothing looks the name up again."""
    port = receiver.server.server_port
    resolver = Resolver(hooks_example=["127.0.0.1"])
    monkeypatch.setattr(targets, "lookup", resolver)
    webhook = create(hooks, f"http://hooks.example:{port}/hook", events=["risk.created"])
    resolver.asked.clear()
    connections.clear()
    scan_into(hooks.client, hooks.owner_h, hooks.id, "The vendor may slip.")
    request = receiver.next()
    settled(hooks_app)
    assert (request.path, request.headers["host"]) == ("/hook", f"hooks.example:{port}")
    assert resolver.asked == ["hooks.example"]
    assert reached(connections, "127.0.0.1", port) == [("127.0.0.1", port)]
    [delivery] = deliveries_of(hooks, webhook["id"])
    assert (delivery["status"], delivery["attempts"]) == ("delivered", 1)


@pytest.mark.parametrize("rebound", [["10.0.0.5"], ["127.0.0.1", "10.0.0.5"],
                                     ["64:ff9b::a00:5"], ["2002:a00:5::1"]])
def test_a_name_that_resolves_elsewhere_at_send_time_is_refused_before_any_connect(
        hooks_app, hooks, receiver, connections, monkeypatch, rebound):
    """DNS rebinding: allowed when saved, a private address (or one among several) when
    sent: the attempt is refused, and nothing is connected to."""
    resolver = Resolver(hooks_example=["127.0.0.1"])
    monkeypatch.setattr(targets, "lookup", resolver)
    webhook = create(hooks, f"http://hooks.example:{receiver.server.server_port}/hook",
                     events=["risk.created"])
    resolver.names["hooks.example"] = rebound
    connections.clear()
    scan_into(hooks.client, hooks.owner_h, hooks.id, "The vendor may slip.")
    settled(hooks_app)
    [delivery] = deliveries_of(hooks, webhook["id"])
    assert (delivery["status"], delivery["attempts"], delivery["response_status"],
            delivery["error"]) == ("pending", 1, None, f"Refused: {NOT_ALLOWED}")
    assert receiver.nothing_more() and only_the_database(connections, receiver)


def test_the_allowed_networks_are_judged_again_at_send_time(hooks_app, hooks, receiver,
                                                            connections, monkeypatch):
    """What was allowed when the webhook was saved is refused once the setting changes."""
    webhook = create(hooks, f"{receiver.url}/hook", events=["risk.created"])
    monkeypatch.setitem(hooks_app.config, "SETTINGS", dataclasses.replace(
        current_settings(hooks_app), WEBHOOK_ALLOWED_NETWORKS=()))
    connections.clear()
    scan_into(hooks.client, hooks.owner_h, hooks.id, "The vendor may slip.")
    settled(hooks_app)
    [delivery] = deliveries_of(hooks, webhook["id"])
    assert (delivery["status"], delivery["attempts"], delivery["response_status"],
            delivery["error"]) == ("pending", 1, None, f"Refused: {NOT_ALLOWED}")
    assert receiver.nothing_more() and only_the_database(connections, receiver)


# Names in other scripts


def test_a_fullwidth_host_is_sent_as_its_ascii_name(hooks_app, hooks, receiver):
    """ｌｏｃａｌｈｏｓｔ is localhost (IDNA's mapping): the Host header carries the name a
    server knows, and the delivery settles."""
    port = receiver.server.server_port
    webhook = create(hooks, f"http://ｌｏｃａｌｈｏｓｔ:{port}/hook", events=["risk.created"])
    scan_into(hooks.client, hooks.owner_h, hooks.id, "The vendor may slip.")
    settled(hooks_app)
    assert not receiver.nothing_more(), "the delivery was never sent"
    assert receiver.next().headers["host"] == f"localhost:{port}"
    [delivery] = deliveries_of(hooks, webhook["id"])
    assert (delivery["status"], delivery["attempts"], delivery["error"]) == (
        "delivered", 1, None)


def test_an_international_name_is_resolved_and_sent_as_punycode(hooks_app, hooks, receiver,
                                                               monkeypatch):
    port = receiver.server.server_port
    resolver = Resolver(**{"xn--e1afmkfd_xn--80akhbyknj4f": ["127.0.0.1"]})
    monkeypatch.setattr(targets, "lookup", resolver)
    webhook = create(hooks, f"http://ПРИМЕР.испытание:{port}/hook",
                     events=["risk.created"])
    scan_into(hooks.client, hooks.owner_h, hooks.id, "The vendor may slip.")
    request = receiver.next()
    settled(hooks_app)
    assert request.headers["host"] == f"xn--e1afmkfd.xn--80akhbyknj4f:{port}"
    assert set(resolver.asked) == {"xn--e1afmkfd.xn--80akhbyknj4f"}
    [delivery] = deliveries_of(hooks, webhook["id"])
    assert (delivery["status"], delivery["attempts"]) == ("delivered", 1)


@pytest.mark.parametrize("host", ["☃.example", "xn--a.example", "a\u200db.example"])
def test_a_host_that_is_no_domain_name_is_refused_in_words(app, client, accounts, connections,
                                                          host):
    _, headers = accounts.user()
    project_id = new_project(client, headers)
    body = refused_at_save(client, headers, project_id, f"http://{host}/hook")
    assert body["detail"] == "The URL's host is not a valid domain name."
    assert only_the_database(connections)


# Ports


PORT_WORDS = "The URL's port is not a number from 1 to 65535."


@pytest.mark.parametrize("port", ["0", "00", "65536"])
def test_a_url_with_port_0_or_beyond_65535_is_refused_made_or_changed(
        hooks_app, hooks, receiver, connections, port):
    """Port 0 names no port: it was taken for the scheme's default and delivered to port
    80, a port its owner never wrote. Refused when a webhook is made and when its URL is
    changed, and nothing is connected to."""
    body = refused_at_save(hooks.client, hooks.owner_h, hooks.id,
                           f"http://127.0.0.1:{port}/hook")
    assert body["detail"] == PORT_WORDS
    webhook = create(hooks, f"{receiver.url}/hook")
    path = f"/api/v1/projects/{hooks.id}/webhooks/{webhook['id']}"
    response = hooks.client.patch(path, headers=hooks.owner_h,
                                  json={"url": f"https://localhost:{port}/hook"})
    assert assert_problem(response, 422, "url")["detail"] == PORT_WORDS
    current = hooks.client.get(path, headers=hooks.owner_h).get_json()
    assert current["url"] == f"{receiver.url}/hook"
    assert only_the_database(connections, receiver)
    with pytest.raises(Refused, match="port is not a number"):
        judge("http://127.0.0.1:0/", LOOPBACK)
