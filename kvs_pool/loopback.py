"""Is a host or address loopback-only? The one rule behind "what is bound where" warnings and
the emulator's refusal of non-loopback clients to its control API.

A wildcard (``0.0.0.0``, ``::``, empty) binds every interface, so it is not loopback. A name is
loopback when every address it resolves to is (``localhost``); a name that does not resolve is
treated as reachable from elsewhere, the careful reading.
"""

from __future__ import annotations

import ipaddress
import socket

__all__ = ["is_loopback"]


def _address_is_loopback(text: str) -> bool | None:
    """True/False for a literal address, None when ``text`` is not one."""
    try:
        address = ipaddress.ip_address(text.strip("[]").split("%", 1)[0])
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)
    return bool((mapped or address).is_loopback)


def is_loopback(host: str) -> bool:
    """True if ``host`` (an address or a name) reaches this machine's loopback only."""
    literal = _address_is_loopback(host)
    if literal is not None:
        return literal
    if not host:
        return False
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return False
    return bool(infos) and all(_address_is_loopback(str(info[4][0])) for info in infos)
