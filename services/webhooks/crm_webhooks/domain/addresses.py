"""The SSRF guard: webhooks go to public addresses only, unless the workspace allows private
networks (an operator's choice, e.g. for an on-premises receiver; the tests' receiver)."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from crm_kit.errors import BadUserInput


def check_url(url: str, field: str) -> str:
    """A well-formed http(s) URL without credentials; BadUserInput naming `field`."""
    text = url.strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadUserInput("must be an http:// or https:// URL with a host", field=field)
    if parts.username or parts.password:
        raise BadUserInput("must not carry credentials", field=field)
    if len(text) > 2000:
        raise BadUserInput("must be at most 2000 characters", field=field)
    try:
        _ = parts.port
    except ValueError:
        raise BadUserInput("has an invalid port", field=field) from None
    return text


def public(address: str) -> bool:
    """Whether an IP address is a public one (not private, loopback, link-local, multicast,
    reserved, unspecified, shared (CGNAT) or an IPv4-mapped one of those)."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip in ipaddress.ip_network("100.64.0.0/10"):
        return False
    return ip.is_global and not ip.is_multicast
