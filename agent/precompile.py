"""Compile a model in a low-priority child process, into OpenVINO's model cache.

Compiling a detector takes a second or more of full CPU. Done inside the agent during a swap, it
competes with the cameras' inference for the same cores, and on a 2-core PC live frames get dropped.
Done in a child process at the lowest CPU priority (nice 19), the kernel gives the cameras' inference
precedence; the agent then compiles the same model with the same settings, which OpenVINO serves from
its cache in a fraction of the time. If the child fails, the agent simply compiles in-process.

    python -m agent.precompile STORE NAME VERSION DEVICE CACHE_DIR [HINT]
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

log = logging.getLogger(__name__)

TIMEOUT_S = 300.0


def precompile(store: Path, name: str, version: str, device: str, cache_dir: Path, hint: str) -> bool:
    """Fill `cache_dir` with the compiled model from a nice-19 child; True if it succeeded."""
    cmd = [sys.executable, "-m", "agent.precompile", str(store), name, version, device, str(cache_dir), hint]
    nice = shutil.which("nice")
    # `nice` rather than a preexec_fn: with one, Python forks holding the GIL (10 ms here, measured against 2 ms)
    # while the cameras' threads wait for it
    try:
        result = subprocess.run([nice, "-n", "19", *cmd] if nice else cmd, capture_output=True, text=True,
                                timeout=TIMEOUT_S, preexec_fn=None if nice else lambda: os.nice(19))
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("background compile of %s@%s failed (%s); compiling in-process", name, version, exc)
        return False
    if result.returncode != 0:
        log.warning("background compile of %s@%s failed; compiling in-process: %s", name, version,
                    result.stderr.strip().splitlines()[-1:] or result.returncode)
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    from agent.detector import Detector
    from models.store import ModelStore

    store, name, version, device, cache_dir, *rest = argv if argv is not None else sys.argv[1:]
    hint = rest[0] if rest else "LATENCY"
    stored = ModelStore(store).load(name, version)
    Detector.open(stored, device, config={"PERFORMANCE_HINT": hint, "CACHE_DIR": cache_dir})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
