"""The OpenID provider's discovery document and signing keys, and the JWTs they verify.

Both doors that take a provider's token, the console's sign-in (its ID token) and the API
(a bearer JWT, OIDC_API_AUDIENCE), check it here the same way: signed by a key of the
provider's JWKS with an asymmetric algorithm (never ``none``, never HS*: a shared-secret
algorithm would let anyone holding the public key, which is public, sign), issued by
OIDC_ISSUER, for the expected audience, unexpired and already valid (``nbf``), and for an
ID token the nonce of this sign-in. The JWKS is cached and refetched when a token names a
key it lacks (the provider rotated), at most once per REFETCH_EVERY_S, so that tokens with
made-up ``kid`` values cannot make every request a fetch. Every fetch is bounded by
SSO_TIMEOUT_S: a provider that is down or slow is ProviderUnavailable, never a hang.

One fetch at a time, and never a queue behind it: while one is in flight, and for
FAILURE_REMEMBERED_S after one failed, other requests use the keys already known or are
answered ProviderUnavailable at once. A provider that accepts connections and never
answers thus costs one request SSO_TIMEOUT_S, not every request in turn (issue #75).
"""

from __future__ import annotations

import threading
import time

import requests
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jwt import JWTClaimsRegistry

ASYMMETRIC = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384",
              "ES512", "EdDSA", "Ed25519")
LEEWAY_S = 60  # clocks of the provider and of Riskscan differ a little
REFETCH_EVERY_S = 10.0
FAILURE_REMEMBERED_S = 10.0


class ProviderUnavailable(Exception):
    """The provider did not answer, or not in time, or not with what it must publish."""


class BadToken(Exception):
    """A token that is not the provider's, not for us, or no longer valid; ``str()`` says
    why, for the log (never for the person)."""


class ProviderKeys:
    """One app's view of its provider: the discovery document (through ``load_metadata``,
    Authlib's cached loader) and the JWKS, shared by the app's threads."""

    def __init__(self, issuer: str, load_metadata, timeout_s: float):
        self.issuer, self._load_metadata, self._timeout_s = issuer, load_metadata, timeout_s
        self._keys: KeySet | None = None
        self._fetched_at = 0.0
        self._fetching = False
        self._failure: tuple[float, str] | None = None  # when the last fetch failed, and why
        self._lock = threading.Lock()  # held to read and write the above, never to fetch

    def metadata(self) -> dict:
        try:
            metadata = self._load_metadata()
        except (requests.RequestException, ValueError) as error:
            raise ProviderUnavailable(f"discovery: {error}") from error
        if metadata.get("issuer") != self.issuer:
            # OpenID Connect Discovery 1.0 §4.3: a document for another issuer is not ours.
            raise ProviderUnavailable(f"discovery names issuer {metadata.get('issuer')!r}")
        return metadata

    def _fetch(self) -> KeySet:
        uri = self.metadata().get("jwks_uri")
        if not uri:
            raise ProviderUnavailable("discovery has no jwks_uri")
        try:
            answer = requests.get(uri, timeout=self._timeout_s)
            answer.raise_for_status()
            keys = KeySet.import_key_set(answer.json())
        except (requests.RequestException, ValueError, JoseError) as error:
            raise ProviderUnavailable(f"jwks: {error}") from error
        return keys

    def _key_set(self, kid: str | None) -> KeySet:
        """The keys to check a token naming ``kid`` with: those known, or fetched now by
        this request alone (see the module docstring)."""
        with self._lock:
            keys, now = self._keys, time.monotonic()
            wanted = keys is None or (
                kid is not None and kid not in {key.kid for key in keys.keys}
                and now - self._fetched_at >= REFETCH_EVERY_S)  # rotated since we fetched
            if not wanted:
                return keys
            failed = self._failure is not None and now - self._failure[0] < FAILURE_REMEMBERED_S
            if self._fetching or failed:
                if keys is not None:
                    return keys
                raise ProviderUnavailable(self._failure[1] if failed
                                          else "the provider's keys are being fetched")
            self._fetching = True
        try:
            fetched = self._fetch()
        except ProviderUnavailable as error:
            with self._lock:
                self._fetching, self._failure = False, (time.monotonic(), str(error))
            if keys is not None:
                return keys
            raise
        except BaseException:
            with self._lock:
                self._fetching = False
            raise
        with self._lock:
            self._keys, self._fetched_at = fetched, time.monotonic()
            self._fetching, self._failure = False, None
        return fetched

    def verify(self, token: str, *, audience: str, nonce: str | None = None) -> dict:
        """The claims of ``token``, checked as the module docstring says; BadToken otherwise."""
        try:
            header = jws.extract_compact(token.encode()).protected
        except (JoseError, ValueError, UnicodeError) as error:
            raise BadToken(f"not a JWS: {error}") from error
        if header.get("alg") not in ASYMMETRIC:
            raise BadToken(f"algorithm {header.get('alg')!r} refused")
        kid = header.get("kid")
        keys = self._key_set(kid if isinstance(kid, str) else None)
        if kid is not None and kid not in {key.kid for key in keys.keys}:
            raise BadToken(f"unknown key {kid!r}")
        try:
            claims = jwt.decode(token, keys, algorithms=ASYMMETRIC).claims
            expected = {"iss": {"essential": True, "value": self.issuer},
                        "aud": {"essential": True, "value": audience},
                        "exp": {"essential": True}, "sub": {"essential": True}}
            if nonce is not None:
                expected["nonce"] = {"essential": True, "value": nonce}
            JWTClaimsRegistry(leeway=LEEWAY_S, **expected).validate(claims)
        except JoseError as error:
            raise BadToken(f"{type(error).__name__}: {error}") from error
        return claims
