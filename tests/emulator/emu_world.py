"""Helpers for the emulator tests: the served stream, real boto3 clients, HTTP fetch."""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import Any

import boto3
from botocore.config import Config

from kvs_pool.emulator import EmulatorServer, StreamSpec

STREAM = "cam-1"
FPS, GOP = 10, 5                    # fragments of 0.5 s
LOOP_FRAMES = 40                    # 4 s clip, then it loops
SPEC = StreamSpec(STREAM, width=320, height=180, fps=FPS, gop=GOP, seconds=LOOP_FRAMES / FPS)
NO_RETRY = Config(retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=10)


def kvs(emu: EmulatorServer) -> Any:
    return boto3.client("kinesisvideo", endpoint_url=emu.base_url, region_name="us-east-1",
                        config=NO_RETRY)


def archived(endpoint: str) -> Any:
    return boto3.client("kinesis-video-archived-media", endpoint_url=endpoint,
                        region_name="us-east-1", config=NO_RETRY)


def session_url(emu: EmulatorServer, **kwargs: Any) -> str:
    """GetDataEndpoint then GetHLSStreamingSessionURL, through the real boto3 clients."""
    endpoint = kvs(emu).get_data_endpoint(StreamName=STREAM,
                                          APIName="GET_HLS_STREAMING_SESSION_URL")["DataEndpoint"]
    args = {"StreamName": STREAM, "PlaybackMode": "LIVE", "ContainerFormat": "FRAGMENTED_MP4",
            **kwargs}
    return archived(endpoint).get_hls_streaming_session_url(**args)["HLSStreamingSessionURL"]


def fetch(url: str) -> tuple[int, dict[str, str], bytes]:
    """GET ``url``: status, headers, body (errors included, never raises on 4xx/5xx)."""
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()
