"""A loopback Kinesis Video Streams for tests, the demo and benchmarks: the control plane
boto3 talks to (GetDataEndpoint, GetHLSStreamingSessionURL, DescribeStream, ListStreams) and
the HLS fMP4 data plane FFmpeg/cv2 read, fed by looping synthetic H.264, with fault injection.
See ``docs/emulator.md``.
"""

from kvs_pool.emulator.config import EmulatorConfig, StreamSpec, from_pool_config
from kvs_pool.emulator.server import EmulatorServer

__all__ = ["EmulatorServer", "EmulatorConfig", "StreamSpec", "from_pool_config"]
