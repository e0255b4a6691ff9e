"""Sign-in against the company's LDAP directory (LDAP_URL): whose login and password these are.

Riskscan's own account (LDAP_BIND_DN) finds the one entry the login names, and a bind as
that entry with the typed password proves it; the entry's groups then decide what the
person may do, in service/auth/identities.py like any single sign-on.

The wire is always TLS, its certificate checked (LDAP_CA_FILE): ldaps://, or ldap://
upgraded with StartTLS before the first bind. A password never crosses in clear, nor
reaches a server that only pretends to be the directory. A directory that cannot be
reached, refuses TLS or stays silent past SSO_TIMEOUT_S is DirectoryUnavailable: the
login route says so (503) and lets nobody in.
"""

from __future__ import annotations

import logging
import math
import ssl
from collections.abc import Iterator
from contextlib import contextmanager

import ldap3
from ldap3.core.exceptions import LDAPException
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import parse_dn

from service import audit
from service.auth.identities import GroupRules, Identity, SignInRefused

log = logging.getLogger(__name__)

SUCCESS = 0
NO_EMAIL = ("Your directory entry has no email address, which a Riskscan account needs; "
            "ask your administrator.")


class BadCredentials(Exception):
    """Nobody, or more than one entry, goes by this login, or the password is wrong or
    empty: the same 401 as a local login's failure, whatever the reason."""


class DirectoryUnavailable(Exception):
    """The directory could not be asked: down, no TLS, an untrusted certificate, silent
    past SSO_TIMEOUT_S, or Riskscan's own account refused (a setting to fix)."""


def group_rules(settings) -> GroupRules:
    """LDAP_ALLOWED_GROUP and LDAP_ADMIN_GROUP as identities.sign_in reads them."""
    return GroupRules(allowed=frozenset(filter(None, [settings.LDAP_ALLOWED_GROUP])),
                      admins=frozenset(filter(None, [settings.LDAP_ADMIN_GROUP])))


def authenticate(login: str, password: str, settings) -> Identity:
    """The directory's person whose ``login`` (mail or uid, LDAP_USER_FILTER) and
    ``password`` these are; BadCredentials or DirectoryUnavailable otherwise, and
    SignInRefused (audited) for an entry without an email."""
    if not password:
        # An empty password is an anonymous bind to an LDAP server, which "succeeds".
        raise BadCredentials("empty password")
    try:
        with _connection(settings, settings.LDAP_BIND_DN, settings.LDAP_BIND_PASSWORD,
                         ours=True) as search:
            dn, attributes = _find(search, login, settings)
            groups = _groups(search, dn, attributes, settings)
        with _connection(settings, dn, password, ours=False):
            pass  # the bind as the person is the proof
    except (LDAPException, DirectoryUnavailable) as error:
        # The operator's to see (the person is told only that the directory is down).
        log.warning("LDAP directory unavailable at %s: %s", settings.LDAP_URL, error)
        raise DirectoryUnavailable(str(error)) from None
    email = (attributes.get("mail") or [""])[0]
    if not email:  # the password was right: the person is told, not given a 401
        audit.record("sso_refused", email=None, source="ldap", reason="no email in the directory")
        raise SignInRefused(NO_EMAIL, "no email in the directory")
    # The bind proves the person, not their mail (people may edit their own in some
    # directories): it claims invitations only where the operator says it is the company's.
    return Identity(source="ldap", subject=dn.lower(), email=email,
                    email_verified=settings.LDAP_EMAIL_VERIFIED, groups=groups)


def reachable(settings) -> None:
    """Riskscan's own account binds to the directory; DirectoryUnavailable otherwise. A
    local account's failed login asks it, so that it is answered as an unknown email is
    while the directory is down (routes.login)."""
    try:
        with _connection(settings, settings.LDAP_BIND_DN, settings.LDAP_BIND_PASSWORD,
                         ours=True):
            pass
    except (LDAPException, DirectoryUnavailable) as error:
        log.warning("LDAP directory unavailable at %s: %s", settings.LDAP_URL, error)
        raise DirectoryUnavailable(str(error)) from None


@contextmanager
def _connection(settings, user: str, password: str, *, ours: bool) -> Iterator[ldap3.Connection]:
    """A connection bound as ``user`` over TLS. ``ours``: Riskscan's own account, whose
    refusal is a setting to fix (DirectoryUnavailable), not the person's mistake."""
    timeout = settings.SSO_TIMEOUT_S
    tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=settings.LDAP_CA_FILE or None)
    server = ldap3.Server(settings.LDAP_URL, use_ssl=settings.LDAP_URL.startswith("ldaps://"),
                          tls=tls, get_info=ldap3.NONE, connect_timeout=timeout)
    # ldap3 sets SO_RCVTIMEO from a whole number of seconds only.
    connection = ldap3.Connection(server, user=user, password=password, read_only=True,
                                  auto_referrals=False, receive_timeout=math.ceil(timeout))
    try:
        connection.open()
        if not server.ssl and not connection.start_tls():
            raise DirectoryUnavailable("StartTLS was not started")
        if not connection.bind():
            if ours:
                raise DirectoryUnavailable(
                    f"LDAP_BIND_DN was refused: {connection.result.get('description')}")
            raise BadCredentials("wrong password")
        yield connection
    finally:
        _close(connection)


def _close(connection: ldap3.Connection) -> None:
    """Unbinds and closes the socket. A connection that failed (the error being reported)
    may not take an unbind, or ldap3 may think it was never open: its socket is closed
    all the same."""
    try:
        connection.unbind()
    except (LDAPException, OSError):
        pass
    if connection.socket is not None:
        connection.socket.close()


def _find(connection: ldap3.Connection, login: str, settings) -> tuple[str, dict]:
    """The DN and attributes of the one entry ``login`` names; escaped, so a login such
    as ``*)(uid=*`` is a name nobody has, never a filter."""
    query = settings.LDAP_USER_FILTER.replace("{login}", escape_filter_chars(login))
    connection.search(settings.LDAP_USER_BASE, query, ldap3.SUBTREE,
                      attributes=["mail", "memberOf"], size_limit=2)
    if connection.result["result"] not in (SUCCESS, 4):  # 4: sizeLimitExceeded, two found
        raise DirectoryUnavailable(f"search failed: {connection.result.get('description')}")
    entries = [e for e in connection.response if e.get("type") == "searchResEntry"]
    if len(entries) != 1:
        raise BadCredentials(f"{len(entries)} entries")
    return entries[0]["dn"], dict(entries[0]["attributes"])


def _groups(connection: ldap3.Connection, dn: str, attributes: dict,
            settings) -> frozenset[str]:
    """The configured groups (LDAP_ADMIN_GROUP, LDAP_ALLOWED_GROUP) the person is in: a
    groupOfNames that lists them as ``member``, or the person's own ``memberOf``."""
    member_of = {_normal(g) for g in attributes.get("memberOf") or []}
    found = set()
    for group in filter(None, {settings.LDAP_ADMIN_GROUP, settings.LDAP_ALLOWED_GROUP}):
        if _normal(group) in member_of:
            found.add(group)
            continue
        connection.search(group, f"(member={escape_filter_chars(dn)})", ldap3.BASE,
                          attributes=["1.1"])
        if any(e.get("type") == "searchResEntry" for e in connection.response or []):
            found.add(group)
    return frozenset(found)


def _normal(dn: str) -> tuple:
    """A DN compared as the directory does: its parts, case and spacing aside."""
    try:
        return tuple((a.lower(), v.lower()) for a, v, _ in parse_dn(dn, strip=True))
    except LDAPException:
        return (dn.lower(),)
