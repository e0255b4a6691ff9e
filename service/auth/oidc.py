"""OpenID Connect: the console's sign-in through the company's provider, and the API's
bearer JWTs from it (issue #62).

Sign-in is the authorization code flow with state, nonce and PKCE (S256), through
Authlib's Flask client: ``start`` sends the browser to the provider, ``finish`` takes it
back, exchanges the code and checks the ID token itself (oidc_keys.py: Authlib would accept
whatever algorithms the provider's discovery lists), then hands the person to
identities.sign_in, which makes, links or refuses the account. Every way this can fail
is a SignInFailed with words for the person and the HTTP status of the page that says
them, so the console never shows a traceback and never signs anyone in half-way.

The API takes the provider's JWT access tokens for OIDC_API_AUDIENCE beside its own
tokens (tokens.PROVIDER_JWT): one is matched to its user once (identities.sign_in: made
just in time, group rules applied, audited), then remembered until it expires, so that a
client's many requests with one token are not as many sign-ins in the audit log.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
import time

import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.flask_client import OAuth
from flask import Flask, current_app, session

from service import audit
from service.auth import identities, tokens
from service.auth.identities import GroupRules, Identity, SignInRefused
from service.auth.oidc_keys import BadToken, ProviderKeys, ProviderUnavailable
from service.config import current_settings
from service.db import User
from service.extensions import db

log = logging.getLogger("riskscan.sso")

EXTENSION = "riskscan.oidc"
CLIENT = "sso"  # Authlib's name for it; not "oidc", whose OIDC_* settings are ours
SCOPE = "openid email profile"
API_TOKENS_REMEMBERED = 4096

UNAVAILABLE = "Your identity provider did not answer. Try again in a few minutes."
EXPIRED = "This sign-in expired or was already used. Start again."
UNVERIFIABLE = "Your identity provider's answer could not be verified. Start again."
DENIED = "Your identity provider did not sign you in"


class SignInFailed(Exception):
    """What the sign-in page says (``words``) and with which status."""

    def __init__(self, words: str, status: int):
        super().__init__(words)
        self.words, self.status = words, status


class _Provider:
    """An app's provider: its Authlib client, its keys, and the API tokens seen lately."""

    def __init__(self, client, keys: ProviderKeys):
        self.client, self.keys = client, keys
        self.api_tokens: dict[str, tuple[str | None, int, float]] = {}  # hash: user, version, exp
        self.lock = threading.Lock()


def init_app(app: Flask) -> None:
    """Register the provider when OIDC_ISSUER is set; nothing is fetched until used."""
    settings = current_settings(app)
    if not settings.OIDC_ISSUER:
        return
    client_kwargs = {"scope": SCOPE, "code_challenge_method": "S256",
                     "default_timeout": settings.SSO_TIMEOUT_S}
    if not settings.OIDC_CLIENT_SECRET:
        client_kwargs["token_endpoint_auth_method"] = "none"  # a public client: PKCE only
    client = OAuth(app).register(
        CLIENT, client_id=settings.OIDC_CLIENT_ID,
        client_secret=settings.OIDC_CLIENT_SECRET or None,
        server_metadata_url=(settings.OIDC_ISSUER.rstrip("/")
                             + "/.well-known/openid-configuration"),
        client_kwargs=client_kwargs)
    keys = ProviderKeys(settings.OIDC_ISSUER, client.load_server_metadata,
                        settings.SSO_TIMEOUT_S)
    app.extensions[EXTENSION] = _Provider(client, keys)
    if settings.OIDC_API_AUDIENCE:
        app.extensions[tokens.PROVIDER_JWT] = api_caller


def configured() -> bool:
    return EXTENSION in current_app.extensions


def _provider() -> _Provider:
    return current_app.extensions[EXTENSION]


def _settings():
    return current_settings()


def _rules() -> GroupRules:
    settings = _settings()
    return GroupRules(allowed=frozenset(settings.OIDC_ALLOWED_GROUPS),
                      admins=frozenset(settings.OIDC_ADMIN_GROUPS))


def start(redirect_uri: str):
    """The redirect to the provider's authorization endpoint; its state, nonce and PKCE
    verifier wait in the (signed) session cookie for ``finish``."""
    provider = _provider()
    try:
        provider.keys.metadata()
        return provider.client.authorize_redirect(redirect_uri,
                                                  nonce=secrets.token_urlsafe(24))
    except (ProviderUnavailable, requests.RequestException, RuntimeError) as error:
        # RuntimeError: Authlib's word for a discovery document without an endpoint
        log.warning("OpenID provider unavailable at sign-in: %s", error)
        raise SignInFailed(UNAVAILABLE, 503) from error


def finish(args) -> tuple[str, str]:
    """The callback's query ``args`` made a Riskscan sign-in: (Riskscan access token, the
    provider's ID token, kept for logout). SignInFailed otherwise; a refusal is committed
    with its audit row (identities.py)."""
    claims, id_token = _verified_id_token(args)
    try:
        identity = _identity(claims)
    except SignInFailed:
        audit.record("sso_refused", email=None, subject=claims["sub"], source="oidc",
                     reason="no email from the provider")
        db.session.commit()
        raise
    try:
        user = identities.sign_in(identity, _rules(),
                                  link_local=_settings().OIDC_LINK_LOCAL_ACCOUNTS)
    except SignInRefused as refused:
        db.session.commit()
        raise SignInFailed(refused.words, 403) from refused
    pair = tokens.issue_tokens(user, tokens.start_session(user))
    db.session.commit()
    return pair.access_token, id_token


def _verified_id_token(args) -> tuple[dict, str]:
    """As Authlib's authorize_access_token, with our own ID token check."""
    provider = _provider()
    if args.get("iss") not in (None, provider.keys.issuer):
        # RFC 9207: the answer of another provider, mixed up with ours by an attacker.
        log.warning("OpenID callback from issuer %r", args.get("iss"))
        raise SignInFailed(UNVERIFIABLE, 400)
    framework, state = provider.client.framework, args.get("state")
    state_data = framework.get_state_data(session, state) if state else None
    if state_data is not None:
        framework.clear_state_data(session, state)  # a state is good once, failed or not
    if not state_data or not state_data.get("nonce"):
        raise SignInFailed(EXPIRED, 400)
    if args.get("error"):
        # Said only with this browser's own state: else anyone could put words of theirs
        # on our sign-in page with a link.
        log.info("OpenID provider refused a sign-in: %s", args.get("error"))
        detail = args.get("error_description") or args.get("error")
        raise SignInFailed(f"{DENIED}: {detail[:200]}", 403 if args.get("error") in (
            "access_denied", "login_required", "consent_required") else 400)
    if not args.get("code"):
        raise SignInFailed(EXPIRED, 400)
    try:
        answer = provider.client.fetch_access_token(
            code=args["code"], redirect_uri=state_data.get("redirect_uri"),
            code_verifier=state_data.get("code_verifier"))
    except OAuthError as error:  # invalid_grant: a code used twice, or expired
        log.warning("OpenID code exchange refused: %s", error)
        down = error.error in ("server_error", "temporarily_unavailable")
        raise SignInFailed(UNAVAILABLE if down else EXPIRED, 503 if down else 400) from error
    except (requests.RequestException, ValueError) as error:
        log.warning("OpenID provider unavailable at the code exchange: %s", error)
        raise SignInFailed(UNAVAILABLE, 503) from error
    id_token = answer.get("id_token")
    if not isinstance(id_token, str):
        raise SignInFailed(UNVERIFIABLE, 400)
    try:
        claims = provider.keys.verify(id_token, audience=provider.client.client_id,
                                      nonce=state_data["nonce"])
    except ProviderUnavailable as error:
        log.warning("OpenID provider unavailable for its keys: %s", error)
        raise SignInFailed(UNAVAILABLE, 503) from error
    except BadToken as error:
        log.warning("OpenID ID token refused: %s", error)
        raise SignInFailed(UNVERIFIABLE, 400) from error
    azp = claims.get("azp")
    if isinstance(claims["aud"], list) and len(claims["aud"]) > 1 and (
            azp != provider.client.client_id):
        log.warning("OpenID ID token for several audiences without us as azp")
        raise SignInFailed(UNVERIFIABLE, 400)
    return claims, id_token


def _identity(claims: dict) -> Identity:
    """The person the provider vouches for. The subject is the issuer's ``sub``: stable,
    unlike an email, which a person may change and another may get after them. Entra ID
    sends no ``email_verified``; its optional ``xms_edov`` (the email's domain is verified
    by its owner) stands for it (docs/sso.md)."""
    email = claims.get("email")
    if not isinstance(email, str) or "@" not in email:
        raise SignInFailed("Your identity provider did not tell Riskscan your email "
                           "address; ask your administrator.", 403)
    groups = claims.get(_settings().OIDC_GROUPS_CLAIM) or []
    if isinstance(groups, str):
        groups = [groups]
    return Identity(source="oidc", subject=f"{claims['iss']} {claims['sub']}", email=email,
                    email_verified=(claims.get("email_verified") is True
                                    or claims.get("xms_edov") is True),
                    groups=frozenset(g for g in groups if isinstance(g, str)))


def logout_url(id_token: str | None, back_to: str) -> str | None:
    """The provider's end-session URL (RP-initiated logout), which returns the browser to
    ``back_to``; None when the provider has none or cannot say (the Riskscan session has
    ended either way)."""
    provider = _provider()
    try:
        if not provider.keys.metadata().get("end_session_endpoint"):
            return None
        return provider.client.create_logout_url(
            post_logout_redirect_uri=back_to, id_token_hint=id_token,
            client_id=provider.client.client_id)["url"]
    except ProviderUnavailable as error:
        log.warning("OpenID provider unavailable at sign-out: %s", error)
        return None


# --------------------------------------------------------------------------- the API


def api_caller(token: str) -> tokens.Caller | None:
    """The caller of a provider's JWT access token for OIDC_API_AUDIENCE, else None (a 401).
    A token refused by the group or account rules is remembered as refused: a client
    retrying it is not one audit row and one revocation per request."""
    provider = _provider()
    key = hashlib.sha256(token.encode()).hexdigest()
    with provider.lock:
        seen = provider.api_tokens.get(key)
    if seen is not None and seen[2] > time.time():
        user = db.session.get(User, seen[0]) if seen[0] is not None else None
        if user is None or not user.active or user.token_version != seen[1]:
            return None
        return tokens.caller_of(user)
    try:
        claims = provider.keys.verify(token, audience=_settings().OIDC_API_AUDIENCE)
        identity = _identity(claims)
    except (BadToken, ProviderUnavailable, SignInFailed) as error:
        log.info("provider bearer token refused: %s", error)
        return None
    try:
        user = identities.sign_in(identity, _rules(),
                                  link_local=_settings().OIDC_LINK_LOCAL_ACCOUNTS)
    except SignInRefused:
        db.session.commit()
        _remember(provider, key, None, 0, claims["exp"])
        return None
    caller = tokens.caller_of(user)
    db.session.commit()
    _remember(provider, key, caller.id, caller.token_version, claims["exp"])
    return caller


def _remember(provider: _Provider, key: str, user_id: str | None, version: int,
              exp) -> None:
    with provider.lock:
        if len(provider.api_tokens) >= API_TOKENS_REMEMBERED:
            now = time.time()
            for old in [k for k, v in provider.api_tokens.items() if v[2] <= now]:
                del provider.api_tokens[old]
            if len(provider.api_tokens) >= API_TOKENS_REMEMBERED:
                provider.api_tokens.clear()
        provider.api_tokens[key] = (user_id, version, float(exp))
