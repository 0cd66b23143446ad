"""The control plane through the real boto3 clients: shapes, and every error code mapped by
botocore to its modelled exception."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from botocore.exceptions import ClientError, ParamValidationError
from emu_world import STREAM, archived, kvs, session_url
from polling import wait_for

from kvs_pool.emulator import EmulatorServer


def test_data_endpoint_points_back_to_the_emulator(emu: EmulatorServer) -> None:
    got = kvs(emu).get_data_endpoint(StreamName=STREAM, APIName="GET_HLS_STREAMING_SESSION_URL")
    assert got["DataEndpoint"] == emu.base_url


def test_describe_and_list_streams(emu: EmulatorServer) -> None:
    info = kvs(emu).describe_stream(StreamName=STREAM)["StreamInfo"]
    assert info["StreamName"] == STREAM and info["Status"] == "ACTIVE"
    assert info["StreamARN"].startswith(f"arn:aws:kinesisvideo:us-east-1:000000000000:stream/{STREAM}/")
    by_arn = kvs(emu).get_data_endpoint(StreamARN=info["StreamARN"], APIName="GET_MEDIA")
    assert by_arn["DataEndpoint"] == emu.base_url
    names = [s["StreamName"] for s in kvs(emu).list_streams()["StreamInfoList"]]
    assert names == [STREAM]


def test_session_url_carries_a_token(emu: EmulatorServer) -> None:
    url = session_url(emu, Expires=300)
    assert url.startswith(f"{emu.base_url}/hls/v1/getHLSMasterPlaylist.m3u8?SessionToken=")
    assert url != session_url(emu)                        # one session per call


@pytest.mark.parametrize("call", ["get_data_endpoint", "describe_stream", "hls"])
def test_unknown_stream_is_resource_not_found(emu: EmulatorServer, call: str) -> None:
    client = archived(emu.base_url) if call == "hls" else kvs(emu)
    with pytest.raises(client.exceptions.ResourceNotFoundException) as caught:
        if call == "hls":
            client.get_hls_streaming_session_url(StreamName="nope", PlaybackMode="LIVE")
        elif call == "describe_stream":
            client.describe_stream(StreamName="nope")
        else:
            client.get_data_endpoint(StreamName="nope", APIName="GET_HLS_STREAMING_SESSION_URL")
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert "nope" in caught.value.response["Error"]["Message"]


def test_unsupported_arguments_are_invalid_argument(emu: EmulatorServer) -> None:
    client = archived(emu.base_url)
    with pytest.raises(client.exceptions.InvalidArgumentException):
        client.get_hls_streaming_session_url(StreamName=STREAM, PlaybackMode="ON_DEMAND")
    with pytest.raises(client.exceptions.InvalidArgumentException):
        client.get_hls_streaming_session_url(StreamName=STREAM, ContainerFormat="MPEG_TS")
    with pytest.raises(ParamValidationError):               # botocore's own check, no request
        client.get_hls_streaming_session_url(StreamName=STREAM, Expires=10)


@pytest.mark.parametrize("status,code", [
    (400, "ClientLimitExceededException"), (401, "NotAuthorizedException"),
    (404, "ResourceNotFoundException"), (400, "InvalidArgumentException"),
    (400, "NoDataRetentionException"), (400, "UnsupportedStreamMediaTypeException"),
    (400, "MissingCodecPrivateDataException"), (400, "InvalidCodecPrivateDataException")])
def test_every_modelled_error_maps_to_its_exception(emu: EmulatorServer, status: int,
                                                    code: str) -> None:
    client = archived(emu.base_url)
    emu.error_burst(status, count=1, code=code, plane="control", api="GetHLSStreamingSessionURL")
    with pytest.raises(getattr(client.exceptions, code)) as caught:
        client.get_hls_streaming_session_url(StreamName=STREAM, PlaybackMode="LIVE")
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert client.get_hls_streaming_session_url(StreamName=STREAM)["HLSStreamingSessionURL"]


def test_throttle_then_recovers(emu: EmulatorServer) -> None:
    client = kvs(emu)
    emu.throttle(count=2, plane="control")
    for _ in range(2):
        with pytest.raises(client.exceptions.ClientLimitExceededException):
            client.describe_stream(StreamName=STREAM)
    assert client.describe_stream(StreamName=STREAM)["StreamInfo"]["StreamName"] == STREAM


def test_server_error_burst_is_a_500(emu: EmulatorServer) -> None:
    emu.error_burst(500, count=1, plane="control")
    with pytest.raises(ClientError) as caught:
        kvs(emu).get_data_endpoint(StreamName=STREAM, APIName="GET_HLS_STREAMING_SESSION_URL")
    assert caught.value.response["Error"]["Code"] == "InternalFailure"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert kvs(emu).describe_stream(StreamName=STREAM)


def test_long_stall_means_no_fragments_then_recovers(emu: EmulatorServer) -> None:
    """A LIVE stream with no fragment within the idle window (2 s here, KVS: 30 s) is 404."""
    client = archived(emu.base_url)
    emu.stall(None)

    def refused() -> bool:
        try:
            client.get_hls_streaming_session_url(StreamName=STREAM, PlaybackMode="LIVE")
        except client.exceptions.ResourceNotFoundException as exc:
            return "No fragments" in exc.response["Error"]["Message"]
        return False

    wait_for(refused, timeout=20)
    emu.resume()
    wait_for(lambda: not refused(), timeout=20)


def test_error_wire_format(emu: EmulatorServer) -> None:
    """Header x-amzn-ErrorType and JSON body {"__type", "Message"}, as botocore parses them."""
    request = urllib.request.Request(f"{emu.base_url}/describeStream", method="POST",
                                     data=json.dumps({"StreamName": "nope"}).encode())
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=10)
    assert caught.value.code == 404
    assert caught.value.headers["x-amzn-ErrorType"] == "ResourceNotFoundException"
    body = json.loads(caught.value.read())
    assert body["__type"] == "ResourceNotFoundException" and body["Message"]


def test_bad_json_body_is_a_serialization_error(emu: EmulatorServer) -> None:
    request = urllib.request.Request(f"{emu.base_url}/getDataEndpoint", method="POST",
                                     data=b"{not json")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=10)
    assert caught.value.code == 400
    assert caught.value.headers["x-amzn-ErrorType"] == "SerializationException"


def test_pool_config_stream_fields_reach_the_emulator(tmp_path) -> None:
    from kvs_pool.config import parse_config
    from kvs_pool.emulator.config import from_pool_config
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"")
    text = f"""
pool: {{name: p}}
emulator:
  enabled: true
  streams:
    - {{name: a, width: 320, height: 240, fps: 10, gop: 5, seconds: 3}}
    - {{name: b, file: "{clip}"}}
cameras: [{{id: c, source: {{kvs: {{stream_name: a, region: us-east-1}}}}}}]
"""
    a, b = from_pool_config(parse_config(text).emulator).streams
    assert (a.width, a.height, a.fps, a.gop, a.seconds, a.file) == (320, 240, 10.0, 5, 3.0, None)
    assert b.file == clip
