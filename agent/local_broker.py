"""A throwaway Mosquitto broker on loopback, for the demo, the tests and the benchmarks.

It runs Debian's real `mosquitto` binary with its own config in a temporary folder, on a free port,
with persistence on (so a stop/start keeps persistent sessions and their queued QoS 1 messages, as a
production broker would).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

MOSQUITTO_PATHS = ("/usr/sbin/mosquitto", "/usr/bin/mosquitto")


class BrokerError(RuntimeError):
    pass


def find_mosquitto() -> str | None:
    return shutil.which("mosquitto") or next((p for p in MOSQUITTO_PATHS if Path(p).exists()), None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class BrokerTls:
    ca_file: Path
    cert_file: Path
    key_file: Path


class LocalBroker:
    """`with LocalBroker() as broker: ... broker.port ...`; `stop()`/`start()` simulate an outage."""

    def __init__(self, port: int | None = None, workdir: Path | None = None, tls: BrokerTls | None = None,
                 password_file: Path | None = None) -> None:
        """`tls`: serve TLS with these files; `password_file`: require a user and password from it
        (made with `mosquitto_passwd`) instead of allowing anonymous clients."""
        binary = find_mosquitto()
        if binary is None:
            raise BrokerError("mosquitto is not installed (Debian: apt-get install mosquitto; `make` does it)")
        self.binary = binary
        self.port = port or free_port()
        self._tmp = None if workdir else tempfile.TemporaryDirectory(prefix="mosquitto-")
        self.workdir = Path(workdir or self._tmp.name)  # type: ignore[union-attr]
        self.config = self.workdir / "mosquitto.conf"
        self.config.write_text(
            # As root, mosquitto drops to user `mosquitto`, which cannot write our temporary folder: its
            # persistence file and log would silently go missing. Stay the user who started it.
            f"user {pwd.getpwuid(os.getuid()).pw_name}\n"
            f"listener {self.port} 127.0.0.1\n"
            + (f"cafile {tls.ca_file}\ncertfile {tls.cert_file}\nkeyfile {tls.key_file}\n" if tls else "")
            + (f"allow_anonymous false\npassword_file {password_file}\n" if password_file else "allow_anonymous true\n")
            + "persistence true\n"
            f"persistence_location {self.workdir}/\n"
            "autosave_interval 1\n"
            "max_queued_messages 100000\n"
            f"log_dest file {self.workdir}/mosquitto.log\n"
        )
        self.process: subprocess.Popen | None = None

    def start(self, timeout_s: float = 10.0) -> LocalBroker:
        self.process = subprocess.Popen([self.binary, "-c", str(self.config)], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BrokerError(f"mosquitto exited with {self.process.returncode}; see {self.workdir}/mosquitto.log")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        raise BrokerError(f"mosquitto did not listen on port {self.port} within {timeout_s} s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()  # SIGTERM: mosquitto saves its persistence file
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def close(self) -> None:
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> LocalBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
