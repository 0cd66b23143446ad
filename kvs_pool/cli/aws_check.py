"""`kvs-pool check --aws CONFIG`: call the read-only AWS APIs of every resource the config names,
with the configured credentials and endpoints, and say per resource whether it exists and is
reachable::

    ok    kinesisvideo stream front-door (eu-west-1): exists, HLS data endpoint reachable
    FAIL  s3 bucket my-snapshots: NoSuchBucket (HTTP 404) - create it or fix publish.bucket

Read-only calls only (DescribeStream, GetDataEndpoint, DescribeStreamSummary, HeadBucket,
DescribeTable); the same IAM actions the pool needs, except that writes are not tried.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from kvs_pool.config import PoolConfig

__all__ = ["Probe", "probes", "run_probe"]


@dataclass(frozen=True)
class Probe:
    """One resource to look at: what it is, how to reach it, and the read-only call to make."""

    label: str                       # e.g. "kinesisvideo stream front-door"
    service: str                     # boto3 service name
    region: str | None
    profile: str | None
    endpoint_url: str | None
    call: Callable[[Any], str]       # client -> what was found ("exists, ...")
    hint: str                        # what to do when it is missing


def probes(config: PoolConfig) -> list[Probe]:
    """Every AWS resource of ``config``, each once (cameras first, then publishers)."""
    found: dict[str, Probe] = {}
    for probe in [*_stream_probes(config), *_publisher_probes(config)]:
        found.setdefault(f"{probe.label}|{probe.region}|{probe.endpoint_url}", probe)
    return list(found.values())


def _stream_probes(config: PoolConfig) -> Iterator[Probe]:
    for camera in config.cameras:
        kvs = camera.source.kvs
        if kvs is None:
            continue
        yield Probe(f"kinesisvideo stream {kvs.stream_name}", "kinesisvideo", kvs.region,
                    kvs.profile, kvs.endpoint_url, _kvs_stream(kvs.stream_name),
                    f"check cameras.{camera.id}.source.kvs.stream_name and the region")


def _kvs_stream(name: str) -> Callable[[Any], str]:
    def call(client: Any) -> str:
        info = client.describe_stream(StreamName=name)["StreamInfo"]
        client.get_data_endpoint(StreamName=name, APIName="GET_HLS_STREAMING_SESSION_URL")
        retention = info.get("DataRetentionInHours", 0)
        note = "" if retention else " (warning: data retention 0 h: HLS needs retention > 0)"
        return f"exists ({info.get('Status', '?')}), HLS data endpoint reachable{note}"
    return call


def _publisher_probes(config: PoolConfig) -> Iterator[Probe]:
    for pipeline in config.pipelines:
        for pub in pipeline.publishers:
            where = (getattr(pub, "region", None), getattr(pub, "profile", None),
                     getattr(pub, "endpoint_url", None))
            if pub.type == "kinesis":
                yield Probe(f"kinesis stream {pub.stream_name}", "kinesis", *where,
                            _kinesis(pub.stream_name), "create the stream or fix stream_name")
            elif pub.type == "s3":
                yield Probe(f"s3 bucket {pub.bucket}", "s3", *where, _bucket(pub.bucket),
                            "create the bucket or fix bucket")
            elif pub.type == "dynamodb":
                yield Probe(f"dynamodb table {pub.table}", "dynamodb", *where, _table(pub.table),
                            "create the table (keys camera_id, ts_event; docs/aws.md) or fix table")


def _kinesis(name: str) -> Callable[[Any], str]:
    def call(client: Any) -> str:
        summary = client.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
        return (f"exists ({summary['StreamStatus']}, {summary.get('OpenShardCount', '?')} "
                f"open shards)")
    return call


def _bucket(name: str) -> Callable[[Any], str]:
    def call(client: Any) -> str:
        client.head_bucket(Bucket=name)
        return "exists, reachable"
    return call


def _table(name: str) -> Callable[[Any], str]:
    def call(client: Any) -> str:
        table = client.describe_table(TableName=name)["Table"]
        return f"exists ({table['TableStatus']})"
    return call


def run_probe(probe: Probe) -> tuple[bool, str]:
    """(ok, one line) for one resource."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError
    where = f"{probe.label} ({probe.region or 'default region'})"
    try:
        session = boto3.Session(profile_name=probe.profile, region_name=probe.region)
        client = session.client(probe.service, endpoint_url=probe.endpoint_url, config=Config(
            connect_timeout=5, read_timeout=10, retries={"max_attempts": 2}))
        return True, f"ok    {where}: {probe.call(client)}"
    except ClientError as exc:
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "?")
        code = error.get("Code") or "Error"
        return False, f"FAIL  {where}: {code} (HTTP {status}) - {_advice(code, probe)}"
    except BotoCoreError as exc:
        return False, f"FAIL  {where}: {type(exc).__name__}: {exc}"


def _advice(code: str, probe: Probe) -> str:
    if code in ("AccessDeniedException", "AccessDenied", "NotAuthorizedException",
                "UnrecognizedClientException", "InvalidClientTokenId", "403"):
        return "the credentials may not read it (see docs/aws.md for the IAM policy)"
    return probe.hint
