"""Turn what AWS and the HLS data plane answer into our typed errors, and decide what the KVS
source does about each one.

| where            | answer                                           | error                 | action   |
|------------------|--------------------------------------------------|-----------------------|----------|
| control plane    | NotAuthorized, InvalidArgument, NoDataRetention, | KVSPermanentError     | FATAL    |
|                  | UnsupportedStreamMediaType, (In)validCodec...,   | (retryable=False)     |          |
|                  | ResourceNotFound from GetDataEndpoint (no stream)|                       |          |
| control plane    | ResourceNotFound from GetHLSStreamingSessionURL  | KVSConnectionError    | IDLE     |
|                  | (LIVE: no fragment in the last 30 s)             |                       |          |
| control plane    | ClientLimitExceeded, throttling, 5xx, network    | KVSConnectionError    | BACKOFF  |
| data plane       | 403 (session expired / token refused)            | HLSResponseError      | REFRESH  |
| data plane       | 404 ResourceNotFound (no fragments any more)     | HLSResponseError      | IDLE     |
| data plane       | 5xx, 400 ClientLimitExceeded, other 4xx, network | HLSResponseError      | BACKOFF  |
| decoder          | a fragment that does not decode                  | HLSStreamError        | SKIP     |
| source           | no new fragment for the stall timeout            | HLSStreamError        | BACKOFF  |

FATAL raises to the caller at once (state 4; the decoder exits 3 and the supervisor restarts
it after its maximum backoff, so a bad stream name is never retried hot). Giving up after
``max_consecutive_errors`` transient errors raises a retryable ``KVSConnectionError`` (exit 4,
normal backoff): an outage is not a configuration problem. IDLE waits at least the source's idle delay
and does not count towards the maximum of consecutive errors (an idle producer is not a fault of
this camera). Every message carries the AWS error code.
"""

from __future__ import annotations

from enum import Enum

from botocore.exceptions import BotoCoreError, ClientError

from kvs_pool.errors import FrameSourceError, HLSStreamError, KVSConnectionError, KVSPermanentError

__all__ = ["Action", "HLSResponseError", "FragmentDecodeError", "FATAL_CODES", "THROTTLE_CODES",
           "from_client_error", "from_botocore_error", "from_http", "action_for"]


class Action(Enum):
    """What the source does after an error."""

    FATAL = "fatal"       # raise to the caller (state ERROR)
    IDLE = "idle"         # the stream has no recent fragments: retry after a long wait
    BACKOFF = "backoff"   # reconnect after the exponential backoff delay
    REFRESH = "refresh"   # get a new session URL now, then carry on
    SKIP = "skip"         # drop this fragment, carry on


FATAL_CODES = frozenset({
    "NotAuthorizedException", "InvalidArgumentException", "NoDataRetentionException",
    "UnsupportedStreamMediaTypeException", "MissingCodecPrivateDataException",
    "InvalidCodecPrivateDataException", "AccessDeniedException", "UnrecognizedClientException",
    "InvalidSignatureException", "ValidationException", "InvalidClientTokenId",
})
THROTTLE_CODES = frozenset({
    "ClientLimitExceededException", "ThrottlingException", "Throttling",
    "TooManyRequestsException", "LimitExceededException",
})


class HLSResponseError(HLSStreamError):
    """The HLS data plane answered an error status (``status``) with AWS code ``code``."""

    def __init__(self, message: str, status: int | None = None, code: str | None = None) -> None:
        self.code = code
        super().__init__(message, status)


class FragmentDecodeError(HLSStreamError):
    """A fetched fragment (or its init segment) did not decode; the source skips it."""


def from_client_error(err: ClientError, api: str, stream: str) -> KVSConnectionError:
    """A botocore ``ClientError`` of ``api`` as a ``KVSConnectionError`` (code, retryable)."""
    error = err.response.get("Error", {})
    code = str(error.get("Code") or "Unknown")
    status = int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    message = error.get("Message") or str(err)
    retryable = code not in FATAL_CODES
    if code == "ResourceNotFoundException" and api == "GetDataEndpoint":
        retryable = False
    text = f"{api} for stream {stream!r} failed: {code} (HTTP {status}): {message}{_hint(code, api)}"
    if not retryable:
        return KVSPermanentError(text, code=code)
    return KVSConnectionError(text, code=code)


def _hint(code: str, api: str) -> str:
    if code == "ResourceNotFoundException" and api == "GetDataEndpoint":
        return " - check the stream name/ARN and region"
    if code == "ResourceNotFoundException":
        return " - the stream has no fragment in the last 30 s (producer idle?)"
    if code == "NoDataRetentionException":
        return " - HLS needs a stream with data retention > 0"
    if code in ("NotAuthorizedException", "AccessDeniedException"):
        return (" - check the credentials/profile and the IAM policy"
                " (kinesisvideo:GetDataEndpoint, GetHLSStreamingSessionURL)")
    return ""


def from_botocore_error(err: BotoCoreError, api: str, stream: str) -> KVSConnectionError:
    """A network-level botocore failure (no answer) as a retryable ``KVSConnectionError``."""
    code = type(err).__name__
    return KVSConnectionError(f"{api} for stream {stream!r} failed: {code}: {err}",
                              code=code, retryable=True)


def from_http(status: int, code: str | None, what: str) -> HLSResponseError:
    """An HTTP error answer of the data plane as an ``HLSResponseError``."""
    code = code or {403: "NotAuthorizedException", 404: "ResourceNotFoundException"}.get(
        status, "HTTPError")
    if status == 403:
        hint = " (session expired or token refused: refreshing the session URL)"
    elif status == 404:
        hint = " (no fragments: producer idle?)"
    else:
        hint = ""
    return HLSResponseError(f"{what}: HTTP {status} {code}{hint}", status=status, code=code)


def action_for(err: FrameSourceError) -> Action:
    """What to do about ``err`` (see the table in the module docstring)."""
    if isinstance(err, KVSConnectionError):
        if not err.retryable:
            return Action.FATAL
        return Action.IDLE if err.code == "ResourceNotFoundException" else Action.BACKOFF
    if isinstance(err, HLSResponseError):
        if err.status == 403:
            return Action.REFRESH
        if err.status == 404:
            return Action.IDLE
        return Action.BACKOFF
    if isinstance(err, FragmentDecodeError):
        return Action.SKIP
    return Action.BACKOFF
