"""A real RTSP server on loopback for the tests: GStreamer's RTSP server serving MJPEG over RTP.

Run by Debian's Python (`/usr/bin/python3` with `python3-gi` and `gir1.2-gst-rtsp-server-1.0`), not the
venv, as a child process of the test:

    /usr/bin/python3 tests/rtsp_server.py --port 8554 [--frames DIR] [--fps 10]

It serves `rtsp://127.0.0.1:<port>/stream`: a moving test pattern, or with `--frames` the JPEG files of DIR
(`00000.jpg`, `00001.jpg`, ...) in a loop. It prints `ready` once it listens. SIGUSR1 makes every stream
stop delivering frames while its RTSP session and RTP/RTCP stay up (a camera whose encoder hung);
SIGUSR2 resumes. SIGTERM stops it.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

MOUNT = "/stream"


def launch_line(frames: Path | None, fps: int) -> str:
    """The media pipeline: JPEG frames -> valve (the pause switch) -> RTP JPEG payloader `pay0`."""
    if frames is None:
        source = (f"videotestsrc is-live=true pattern=ball ! video/x-raw,format=I420,width=320,height=240,"
                  f"framerate={fps}/1 ! jpegenc quality=80")
    else:
        # identity sync=true paces the file frames at `fps`, as a live camera would deliver them.
        source = (f"multifilesrc location={frames}/%05d.jpg loop=true caps=image/jpeg,framerate={fps}/1 "
                  "! identity sync=true ! jpegdec ! videoconvert ! video/x-raw,format=I420 ! jpegenc quality=80")
    return f"( {source} ! valve name=gate drop=false ! rtpjpegpay name=pay0 pt=26 )"


class Server:
    """The RTSP server and the valves of the media it made, so a signal can pause every stream."""

    def __init__(self, port: int, frames: Path | None, fps: int) -> None:
        self.delivering = True
        self.gates: list[Gst.Element] = []
        self.server = GstRtspServer.RTSPServer.new()
        self.server.set_address("127.0.0.1")
        self.server.set_service(str(port))
        factory = GstRtspServer.RTSPMediaFactory.new()
        factory.set_launch(launch_line(frames, fps))
        factory.set_shared(False)
        factory.connect("media-configure", self._on_media)
        self.server.get_mount_points().add_factory(MOUNT, factory)

    def _on_media(self, _factory: GstRtspServer.RTSPMediaFactory, media: GstRtspServer.RTSPMedia) -> None:
        gate = media.get_element().get_by_name("gate")
        gate.set_property("drop", not self.delivering)
        self.gates.append(gate)

    def set_delivering(self, delivering: bool) -> bool:
        self.delivering = delivering
        for gate in self.gates:
            gate.set_property("drop", not delivering)
        return GLib.SOURCE_CONTINUE


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--frames", type=Path, help="folder of 00000.jpg, 00001.jpg, ... served in a loop")
    parser.add_argument("--fps", type=int, default=10)
    args = parser.parse_args()
    Gst.init(None)
    server = Server(args.port, args.frames, args.fps)
    loop = GLib.MainLoop()
    if server.server.attach(None) == 0:
        print(f"cannot listen on 127.0.0.1:{args.port}", file=sys.stderr)
        return 1
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGUSR1, server.set_delivering, False)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGUSR2, server.set_delivering, True)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, lambda: loop.quit() or GLib.SOURCE_REMOVE)
    print("ready", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
