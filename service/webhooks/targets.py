"""Where a webhook may be sent: judged before any connection is made (SSRF).

A URL's host is resolved, and every address it resolves to must be public: loopback,
private, link-local, shared, reserved and cloud metadata addresses are refused unless
WEBHOOK_ALLOWED_NETWORKS holds them. The same judgment runs when a webhook is saved and
again before each attempt, whose connection goes to the address judged, not to a name
resolved a second time (DNS rebinding).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

# Named for the refusal's words; each is also outside the public addresses.
METADATA = {ipaddress.ip_address(a) for a in (
    "169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200", "192.0.0.192")}
MAX_URL = 2048
lookup = socket.getaddrinfo  # the resolver (tests that must not ask a DNS server swap it)


class Refused(ValueError):
    """Why a URL may not be sent to, in words a webhook's owner can act on."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # the name, for the Host header and the certificate
    port: int
    path: str  # with the query
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
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise Refused("The URL's port is not a number from 1 to 65535.") from None
    host = parts.hostname
    addresses = _resolve(host, port)
    for address in addresses:
        reason = _why_not(address, allowed)
        if reason is not None:
            raise Refused(f"{host} resolves to {address}, {reason}: webhooks go to public "
                          "addresses only (WEBHOOK_ALLOWED_NETWORKS may allow others).")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
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


def _resolve(host: str, port: int) -> list:
    """Every address ``host`` resolves to (an IP literal is its own), IPv4-mapped IPv6
    ones as the IPv4 address they are."""
    try:
        infos = lookup(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise Refused(f"{host} does not resolve to an address.") from None
    addresses = []
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%", 1)[0])  # no IPv6 zone
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise Refused(f"{host} does not resolve to an address.")
    return addresses


def _why_not(address, allowed: tuple) -> str | None:
    """None if ``address`` may be sent to, else what kind of address it is."""
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
    if not address.is_global or address.is_multicast:
        return "not a public address"
    return None
