"""What an attacker, a confused browser or a failing provider may bring to the OpenID
Connect callback (service/auth/oidc.py), against the real provider of tests/sso/: every
one is the sign-in page with words and a 400, 403 or 503, and nobody signed in. Forged ID
tokens are signed with the provider's own key (the fixture made it), so each breaks one
rule only."""

from __future__ import annotations

import html
import socket
import time
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import pytest
from joserfc.jwk import RSAKey

from service.auth import oidc
from tests.sso.console import START, events, signed_in_as, text
from tests.sso.provider import Person, claims_of

COOKIE = "riskscan_console"


def with_query(url: str, **changes) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query.update(changes)
    return urlunsplit(parts._replace(query=urlencode(query)))


def refused(answer, status: int, words: str) -> None:
    body = html.unescape(text(answer))
    assert answer.status_code == status, body[:500]
    assert words in body and "Traceback" not in body
    assert 'href="/app/sign-in/oidc"' in body  # the sign-in page, to start again


def states_in(app, client) -> list[str]:
    """The sign-in states the browser's console cookie still holds."""
    cookie = client.get_cookie(COOKIE, path="/app")
    data = app.session_interface.get_signing_serializer(app).loads(cookie.value)
    return [key for key in data if key.startswith("_state_")]


def callback_url(client, provider, login="ada"):
    return Person(provider).sign_in(client.get(START).location, login)


def test_a_callback_replayed_after_its_sign_in_is_refused(sso, oidc_provider):
    app, client = sso()
    back = callback_url(client, oidc_provider)
    assert client.get(back).status_code == 302
    assert states_in(app, client) == []  # spent, not just refused by the provider
    refused(client.get(back), 400, oidc.EXPIRED)
    assert len(events(app, "sso_login")) == 1


def test_a_callback_without_state_or_from_another_browser_is_refused(sso, oidc_provider):
    app, client = sso()
    back = callback_url(client, oidc_provider)
    stranger = app.test_client()  # login CSRF: the attacker's code in the victim's browser
    refused(stranger.get(back), 400, oidc.EXPIRED)
    assert signed_in_as(stranger) is None
    parts = urlsplit(back)
    without = {k: v for k, v in parse_qs(parts.query).items() if k != "state"}
    refused(client.get(urlunsplit(parts._replace(query=urlencode(without, doseq=True)))),
            400, oidc.EXPIRED)
    assert signed_in_as(client) is None


def test_a_code_used_twice_is_refused_by_the_provider(sso, oidc_provider):
    app, client = sso()
    back = callback_url(client, oidc_provider)
    before = client.get_cookie(COOKIE, path="/app").value  # still holds the state
    assert client.get(back).status_code == 302
    client.set_cookie(COOKIE, before, path="/app")
    assert len(states_in(app, client)) == 1
    refused(client.get(back), 400, oidc.EXPIRED)
    assert states_in(app, client) == []  # a refused state is spent too
    assert signed_in_as(client) is None


def test_a_nonce_other_than_the_one_sent_is_refused(sso, oidc_provider):
    _, client = sso()
    start = client.get(START).location
    tampered = with_query(start, nonce="the-attackers-nonce")
    refused(client.get(Person(oidc_provider).sign_in(tampered, "ada")), 400,
            oidc.UNVERIFIABLE)
    assert signed_in_as(client) is None


def test_the_providers_error_and_another_issuer_are_said_in_words(sso, oidc_provider):
    _, client = sso()
    state = parse_qs(urlsplit(client.get(START).location).query)["state"][0]
    answer = client.get("/app/sign-in/oidc/callback?" + urlencode({
        "error": "access_denied", "error_description": "The user said no", "state": state}))
    refused(answer, 403, "The user said no")
    spoofed = client.get("/app/sign-in/oidc/callback?" + urlencode({
        "error": "access_denied", "error_description": "Call +1 555 0100 to unlock"}))
    refused(spoofed, 400, oidc.EXPIRED)  # no state of this browser: not the provider's
    assert "555 0100" not in text(spoofed)
    mixed_up = with_query(callback_url(client, oidc_provider), iss="https://evil.example")
    refused(client.get(mixed_up), 400, oidc.UNVERIFIABLE)
    assert signed_in_as(client) is None


def forged_id_tokens(provider):
    """name: the real ID token's claims -> a token breaking one rule."""
    other_key = RSAKey.generate_key(2048, parameters={"kid": "not-the-providers"})
    return {
        "another audience": lambda c: provider.sign(c, aud="another-client"),
        "another issuer": lambda c: provider.sign(c, iss="https://evil.example"),
        "expired": lambda c: provider.sign(c, iat=int(time.time()) - 7200,
                                           exp=int(time.time()) - 3600),
        "alg none": lambda c: provider.unsigned(c),
        "HS256 with the public key": lambda c: provider.hs256_with_public_key(c),
        "an unknown key": lambda c: provider.sign(c, key=other_key,
                                                  header={"kid": "not-the-providers"}),
    }


@pytest.mark.parametrize("forgery", ["another audience", "another issuer", "expired",
                                     "alg none", "HS256 with the public key",
                                     "an unknown key"])
def test_a_forged_id_token_signs_nobody_in(sso, oidc_provider, monkeypatch, forgery):
    app, client = sso()
    exchange = app.extensions[oidc.EXTENSION].client
    real = exchange.fetch_access_token

    def fetch(**kwargs):  # the provider's real answer, its ID token swapped
        answer = dict(real(**kwargs))
        answer["id_token"] = forge(claims_of(answer["id_token"]))
        return answer

    monkeypatch.setattr(exchange, "fetch_access_token", fetch)
    forge = lambda claims: oidc_provider.sign(claims)  # the harness itself
    assert client.get(callback_url(client, oidc_provider)).status_code == 302
    client = app.test_client()
    forge = forged_id_tokens(oidc_provider)[forgery]
    refused(client.get(callback_url(client, oidc_provider)), 400, oidc.UNVERIFIABLE)
    assert signed_in_as(client) is None


def _silent_port():
    """A listening socket that accepts connections and never answers."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    return silent


def test_a_provider_down_or_silent_is_a_503_within_the_timeout(sso):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there now
    _, client = sso(OIDC_ISSUER=f"http://127.0.0.1:{port}")
    refused(client.get(START), 503, oidc.UNAVAILABLE)

    with _silent_port() as silent:
        _, client = sso(OIDC_ISSUER=f"http://127.0.0.1:{silent.getsockname()[1]}",
                        SSO_TIMEOUT_S=1.0)
        began = time.monotonic()
        answer = client.get(START)
        waited = time.monotonic() - began
    refused(answer, 503, oidc.UNAVAILABLE)
    assert 1.0 <= waited < 2.0, waited  # SSO_TIMEOUT_S, and not much more


@pytest.mark.parametrize("silent_endpoint", ["token_endpoint", "jwks_uri"])
def test_a_provider_falling_silent_before_the_way_back_is_a_503_in_time(
        sso, oidc_provider, silent_endpoint):
    """Between the redirect and the return the provider stops answering: at its token
    endpoint (the code exchange) or at its keys (the ID token's check)."""
    app, client = sso(SSO_TIMEOUT_S=1.0)
    back = callback_url(client, oidc_provider)  # the discovery document is read by now
    with _silent_port() as silent:
        metadata = app.extensions[oidc.EXTENSION].client.server_metadata
        metadata[silent_endpoint] = f"http://127.0.0.1:{silent.getsockname()[1]}/x"
        began = time.monotonic()
        answer = client.get(back)
        waited = time.monotonic() - began
    refused(answer, 503, oidc.UNAVAILABLE)
    assert waited < 2.0, waited
    assert signed_in_as(client) is None
