"""Optional access control for the HTTP port: a bearer token or HTTP basic credentials.

The secret never comes from the config file (configs are shared, committed, printed): it is
read once at start from an environment variable or from a file named by one:

| variable                        | meaning                                              |
| ------------------------------- | ---------------------------------------------------- |
| ``KVS_POOL_HTTP_TOKEN``         | bearer token (``Authorization: Bearer <token>``)     |
| ``KVS_POOL_HTTP_TOKEN_FILE``    | file holding the bearer token (trailing newline cut) |
| ``KVS_POOL_HTTP_BASIC``         | ``user:password`` for HTTP basic auth                |
| ``KVS_POOL_HTTP_BASIC_FILE``    | file holding ``user:password``                       |

Both kinds may be set; a request passes with either. Comparisons use
``hmac.compare_digest`` (constant time). ``/healthz`` stays open for probes.
"""

from __future__ import annotations

import base64
import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass

from kvs_pool.errors import KvsPoolError

__all__ = ["Access", "access_from_env"]


@dataclass(frozen=True)
class Access:
    """The accepted secrets (None: that kind is off; both None: the port is open)."""

    token: bytes | None = None
    basic: bytes | None = None     # b"user:password"

    @property
    def enabled(self) -> bool:
        return self.token is not None or self.basic is not None

    def allows(self, authorization: str | None) -> bool:
        """Does this ``Authorization`` header value grant access?"""
        if not self.enabled:
            return True
        scheme, _, value = (authorization or "").strip().partition(" ")
        value = value.strip()
        if scheme.lower() == "bearer" and self.token is not None:
            return hmac.compare_digest(value.encode(), self.token)
        if scheme.lower() == "basic" and self.basic is not None:
            try:
                given = base64.b64decode(value, validate=True)
            except ValueError:
                return False
            return hmac.compare_digest(given, self.basic)
        return False


def _secret(env: Mapping[str, str], name: str) -> bytes | None:
    value = env.get(name)
    path = env.get(f"{name}_FILE")
    if value and path:
        raise KvsPoolError(f"set {name} or {name}_FILE, not both")
    if path:
        try:
            with open(path, "rb") as fh:
                value_b = fh.read().rstrip(b"\r\n")
        except OSError as exc:
            raise KvsPoolError(f"{name}_FILE={path}: cannot read: {exc.strerror}") from None
        if not value_b:
            raise KvsPoolError(f"{name}_FILE={path}: the file is empty")
        return value_b
    return value.encode() if value else None


def access_from_env(env: Mapping[str, str] | None = None) -> Access:
    """The access rules from the environment (see the module docstring)."""
    env = os.environ if env is None else env
    basic = _secret(env, "KVS_POOL_HTTP_BASIC")
    if basic is not None and b":" not in basic:
        raise KvsPoolError("KVS_POOL_HTTP_BASIC: expected user:password")
    return Access(token=_secret(env, "KVS_POOL_HTTP_TOKEN"), basic=basic)
