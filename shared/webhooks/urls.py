"""Which URLs we agree to send webhooks to.

Anyone who configures an endpoint chooses where our worker connects, so outside dev a
URL must be https and every address its host resolves to must be public: no loopback,
private, link-local (cloud metadata at 169.254.169.254), shared, reserved or multicast
targets. The check runs when an endpoint is configured and again before every attempt,
since DNS can change in between (a check before connecting narrows, but does not close,
the window of a DNS rebinding; a filtering egress proxy closes it). In dev http and
local targets are allowed, so a receiver on localhost works.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from urllib.parse import urlsplit

Resolver = Callable[[str, int], list[str]]
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class UnsafeEndpointUrl(ValueError):
    """The URL is not one we send webhooks to; the message says why, and never quotes
    the URL's query or credentials."""


def resolve_host(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        raise UnsafeEndpointUrl(f"the host {host!r} does not resolve") from None
    return sorted({str(info[4][0]) for info in infos})


def validate_endpoint_url(url: str, *, allow_insecure: bool,
                          resolve: Resolver = resolve_host) -> str:
    """Return `url` if webhooks may be sent to it, else raise `UnsafeEndpointUrl`.
    `allow_insecure` is `settings.is_dev`: http and local targets are then allowed."""
    parts = urlsplit(url.strip())
    allowed_schemes = ("https", "http") if allow_insecure else ("https",)
    if parts.scheme not in allowed_schemes:
        raise UnsafeEndpointUrl(f"the URL must use {' or '.join(allowed_schemes)}")
    if not parts.hostname:
        raise UnsafeEndpointUrl("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise UnsafeEndpointUrl("the URL must not carry credentials")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise UnsafeEndpointUrl("the URL's port is not a number from 1 to 65535") from None
    if not allow_insecure:
        _require_public(parts.hostname, port, resolve)
    return url


def _require_public(host: str, port: int, resolve: Resolver) -> None:
    addresses = resolve(host, port)
    if not addresses:
        raise UnsafeEndpointUrl(f"the host {host!r} does not resolve")
    for address in addresses:
        if not is_public(ipaddress.ip_address(address.split("%", 1)[0])):
            raise UnsafeEndpointUrl(f"the host {host!r} resolves to a non-public address")


def is_public(address: IpAddress) -> bool:
    """Globally routable unicast. An IPv4 address embedded in IPv6 (mapped, NAT64,
    6to4, Teredo) is judged by the IPv4 address it reaches."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if address in NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return is_public(embedded)
        if address.teredo is not None:
            return is_public(address.teredo[1])
    return address.is_global and not address.is_multicast
