"""boto3 clients for the publishers: region, endpoint and retry mode from config, credentials
from boto3's own chain (env, profile, instance role), never from our files.

Botocore's ``standard`` or ``adaptive`` retry mode retries throttling and transient errors inside
one call; the outbox's backoff is the outer layer that survives long outages and restarts.
boto3 is imported when a client is made, so a process holding only params never loads it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kvs_pool.publish.base import THROTTLE_CODES

__all__ = ["AwsParams", "make_client", "describe_error"]


@dataclass(frozen=True)
class AwsParams:
    """Where and how to call AWS (``endpoint_url`` for moto, LocalStack or a VPC endpoint)."""

    region: str | None = None
    endpoint_url: str | None = None
    profile: str | None = None
    retry_mode: str = "standard"       # standard | adaptive | legacy
    max_attempts: int = 5              # botocore's attempts per call, first one included
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 30.0


def make_client(service: str, aws: AwsParams) -> Any:
    """A boto3 client for ``service`` configured from ``aws``."""
    import boto3
    from botocore.config import Config
    extra: dict[str, Any] = {}
    if service == "s3" and aws.endpoint_url:
        extra["s3"] = {"addressing_style": "path"}   # emulators rarely serve bucket subdomains
    config = Config(retries={"mode": aws.retry_mode, "max_attempts": aws.max_attempts},
                    connect_timeout=aws.connect_timeout_s, read_timeout=aws.read_timeout_s,
                    **extra)
    session = boto3.session.Session(profile_name=aws.profile)
    return session.client(service, region_name=aws.region, endpoint_url=aws.endpoint_url,
                          config=config)


def describe_error(exc: Exception) -> tuple[str, bool]:
    """``(error text, throttled)`` for a botocore exception or anything else a call raised."""
    from botocore.exceptions import BotoCoreError, ClientError
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", "ClientError"))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return f"{code}: {exc}", code in THROTTLE_CODES or status in (429, 503)
    if isinstance(exc, BotoCoreError):
        return f"{type(exc).__name__}: {exc}", False
    return f"{type(exc).__name__}: {exc}", False
