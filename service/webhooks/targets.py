"""Where a webhook may be sent: judged before any connection is made (SSRF).

A URL's host is resolved, and every address it resolves to must be public: loopback,
private, link-local, shared, reserved and cloud metadata addresses are refused unless
WEBHOOK_ALLOWED_NETWORKS holds them. An IPv6 address that carries an IPv4 one (mapped,
IPv4-compatible, SIIT, NAT64, 6to4, Teredo) is judged by that IPv4 address too. The same
judgment runs when a webhook is saved and again before each attempt, whose connection goes
to the address judged, not to a name resolved a second time (DNS rebinding).

A refusal says that the URL is not allowed, never what its host resolved to, or whether
it resolved at all: its words would otherwise map the internal names of the network
(``Refused.why`` keeps the detail for the log). A host name in any script is judged and
sent as its IDNA name (punycode, UTS #46 mapping): that is what DNS and the Host header
carry.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import idna

# Named for the log's words; each is also outside the public addresses.
METADATA = {ipaddress.ip_address(a) for a in (
    "169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200", "192.0.0.192")}
# IPv6 prefixes whose last 32 bits are an IPv4 address: NAT64's well-known prefix (RFC 6052),
# SIIT's IPv4-translated addresses (RFC 2765) and the deprecated IPv4-compatible ones.
CARRY_LAST_32 = tuple(ipaddress.ip_network(n) for n in ("64:ff9b::/96", "::ffff:0:0:0/96",
                                                        "::/96"))
# Refused whatever they carry: local-use NAT64 (RFC 8215), whose IPv4 address sits where its
# operator's prefix length puts it.
NOT_PUBLIC_V6 = (ipaddress.ip_network("64:ff9b:1::/48"),)
MAX_URL = 2048
NOT_ALLOWED = ("The URL is not allowed: a webhook's host must be a public address, or a name "
               "that resolves only to public addresses (WEBHOOK_ALLOWED_NETWORKS may allow "
               "others).")
lookup = socket.getaddrinfo  # the resolver (tests that must not ask a DNS server swap it)


class Refused(ValueError):
    """Why a URL may not be sent to, in words a webhook's owner can act on; ``why`` is the
    detail for the log (what the host resolved to), never for the owner."""

    def __init__(self, message: str, why: str | None = None):
        super().__init__(message)
        self.why = why or message


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # the name (IDNA), for the Host header and the certificate
    port: int
    path: str  # with the query, percent-encoded
    address: str  # the judged address the connection goes to

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


def judge(url: str, allowed: tuple = ()) -> Target:
    """The target of ``url`` if it may be sent to, else Refused; ``allowed`` are the
    networks of WEBHOOK_ALLOWED_NETWORKS."""
    parts = _parts(url)
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port is None:
        port = 443 if parts.scheme == "https" else 80
    elif port == 0:  # 0 means no port: never the scheme's default in its stead
        raise Refused("The URL's port is not a number from 1 to 65535.")
    host = _ascii(parts.hostname)
    addresses = _resolve(host, port)
    for address in addresses:
        reason = _why_not(address, allowed)
        if reason is not None:
            raise Refused(NOT_ALLOWED, f"{host} resolves to {address}, {reason}")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    # What the request line may carry: printable ASCII as written, anything else encoded.
    path = "".join(c if "!" <= c <= "~" else quote(c, safe="") for c in path)
    return Target(parts.scheme, host, port, path, str(addresses[0]))


def _parts(url: str):
    if len(url) > MAX_URL:
        raise Refused(f"The URL is longer than {MAX_URL} characters.")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise Refused("The URL must start with http:// or https://.")
    if not parts.hostname:
        raise Refused("The URL names no host.")
    if parts.username is not None or parts.password is not None:
        raise Refused("The URL may not hold credentials: receivers check the signature.")
    return parts


def _ascii(host: str) -> str:
    """The host as DNS and the Host header carry it: an IP literal or ASCII name as it is,
    any other name as its IDNA 2008 A-labels after UTS #46's mapping (ｌｏｃａｌｈｏｓｔ is
    localhost)."""
    if host.isascii() and not host.lower().startswith("xn--") and ".xn--" not in host.lower():
        return host
    try:
        return idna.encode(host, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError, ValueError):
        raise Refused("The URL's host is not a valid domain name.") from None


def _resolve(host: str, port: int) -> list:
    """Every address ``host`` resolves to (an IP literal is its own), IPv4-mapped IPv6
    ones as the IPv4 address they are (the connection goes there)."""
    try:
        infos = lookup(host, port, type=socket.SOCK_STREAM)
    except (OSError, ValueError):  # UnicodeError among them: a label too long
        raise Refused(NOT_ALLOWED, f"{host} does not resolve to an address") from None
    addresses = []
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%", 1)[0])  # no IPv6 zone
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise Refused(NOT_ALLOWED, f"{host} does not resolve to an address")
    return addresses


def _why_not(address, allowed: tuple) -> str | None:
    """None if ``address`` may be sent to, else what kind of address it is; an IPv6
    address is also judged by each IPv4 address it carries."""
    reason = _kind(address, allowed)
    if reason is None and isinstance(address, ipaddress.IPv6Address):
        for carried in _carried(address):
            if (carried_reason := _kind(carried, allowed)) is not None:
                return f"an IPv6 address carrying {carried}, {carried_reason}"
    return reason


def _carried(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address stands for: NAT64, SIIT and IPv4-compatible ones
    in their last 32 bits, 6to4's after its prefix, Teredo's server and (de-obfuscated)
    client."""
    carried = []
    if any(address in network for network in CARRY_LAST_32) and int(address) > 1:
        carried.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    if address.sixtofour is not None:
        carried.append(address.sixtofour)
    if address.teredo is not None:
        carried.extend(address.teredo)
    return carried


def _kind(address, allowed: tuple) -> str | None:
    if any(address.version == network.version and address in network for network in allowed):
        return None
    if address in METADATA:
        return "a cloud metadata address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_private:
        return "a private address"
    if (not address.is_global or address.is_multicast
            or any(address in network for network in NOT_PUBLIC_V6 if address.version == 6)):
        return "not a public address"
    return None
