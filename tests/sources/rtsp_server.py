"""A real RTSP server for tests and benchmarks: GStreamer's ``gst-rtsp-server`` serving a live
test pattern (H.264 by x264enc) at ``rtsp://127.0.0.1:<port>/test``.

Run with the SYSTEM python3 (Debian's ``python3-gi`` and ``gir1.2-gst-rtsp-server-1.0``; the
project's virtualenv has no GObject bindings)::

    /usr/bin/python3 tests/sources/rtsp_server.py --port 8554 [--user u --password-env VAR]

Prints ``READY <port>`` on stdout once it listens. The media factory is NOT shared: with a shared
factory GStreamer 1.22 aborts on the first client (an assertion in ``gst_rtsp_media_get_rates``);
unshared, each client gets its own pipeline, which both cv2 and the pool read.
With ``--user``, clients must authenticate (Basic) with that user and the password read from the
environment variable named by ``--password-env``.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

PIPELINE = ("( videotestsrc is-live=true pattern={pattern} "
            "! video/x-raw,width={width},height={height},framerate={fps}/1 "
            "! x264enc tune=zerolatency speed-preset=ultrafast key-int-max={gop} bitrate=2000 "
            "! rtph264pay name=pay0 pt=96 config-interval=1 )")


def parse() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=720)
    ap.add_argument("--fps", type=int, default=25)
    ap.add_argument("--gop", type=int, default=25, help="frames between key frames")
    ap.add_argument("--pattern", default="ball")
    ap.add_argument("--user")
    ap.add_argument("--password-env", default="RTSP_TEST_PASSWORD")
    return ap.parse_args()


def add_auth(server: GstRtspServer.RTSPServer, factory: GstRtspServer.RTSPMediaFactory,
             user: str, password: str) -> None:
    """Basic authentication: only ``user`` may see and construct the media."""
    auth = GstRtspServer.RTSPAuth()
    token = GstRtspServer.RTSPToken()
    token.set_string("media.factory.role", "user")
    auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, password), token)
    server.set_auth(auth)
    permissions = GstRtspServer.RTSPPermissions()
    permissions.add_permission_for_role("user", "media.factory.access", True)
    permissions.add_permission_for_role("user", "media.factory.construct", True)
    factory.set_permissions(permissions)


def main() -> int:
    args = parse()
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(PIPELINE.format(pattern=args.pattern, width=args.width,
                                       height=args.height, fps=args.fps, gop=args.gop))
    factory.set_shared(False)   # shared aborts in gst_rtsp_media_get_rates (see above)
    if args.user:
        add_auth(server, factory, args.user, os.environ.get(args.password_env, ""))
    server.get_mount_points().add_factory("/test", factory)
    if server.attach(None) == 0:
        print(f"cannot listen on 127.0.0.1:{args.port}", file=sys.stderr)
        return 1
    loop = GLib.MainLoop()
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, loop.quit)
    print(f"READY {args.port}", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
