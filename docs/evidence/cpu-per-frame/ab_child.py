"""One agent run of bench/multicamera.py's child, as the A/B runs in this folder made it.

    PYTHONPATH=<tree>:<checkout>/bench python ab_child.py VARIANT CAMERAS BROKER_PORT [--replay]

<tree> is the checkout whose `agent` package runs (ab_runs.py picks it per variant: a `git worktree` of
the commit before, or the working tree). VARIANT names what is changed in-process for an A/B within one
tree: `old-occupancy` (the window's median by NumPy, as before af5dfe1), `old-start` (the pool resized
before it looked for an idle request, as before ccd6171), `cv1` (cv2.setNumThreads(1)), `niceN` (every
capture's decoding thread at nice N); anything else runs the tree as it is. Prints the aggregate fps
and the CPU per frame by kind of thread.
"""

import json
import math
import os
import queue
import sys
import threading
import time

import cv2
import numpy as np

variant = sys.argv[1]
sys.argv = ["multicamera.py", "--child", sys.argv[2], "--port", sys.argv[3], "--seconds", "8", "--name",
            "ssd-squeezenet", "--version", "384x288-int8", "--cache-dir", "/tmp/mc/ovcache", *sys.argv[4:]]
import multicamera as mc  # noqa: E402

if variant == "old-occupancy":
    from agent import occupancy

    def statistic(self):  # noqa: ANN001, ANN202
        values = np.fromiter((count for _, count in self._window), np.float64)
        kind = self.settings.statistic
        if kind == "last":
            return int(values[-1])
        value = {"median": np.median, "mean": np.mean, "max": np.max}[kind](values)
        return int(math.floor(float(value) + 0.5))

    occupancy.OccupancySmoother.statistic = statistic
elif variant == "old-start":  # needs the tree of ccd6171's parent for frame_tensor
    from agent import inference_pool as ip

    def _start(self, image, block):  # noqa: ANN001, ANN202
        t0 = time.perf_counter()
        tensor = ip.frame_tensor(image, self.host_resize)
        t1 = time.perf_counter()
        try:
            request = self._idle.get(block)
        except queue.Empty:
            return None
        t2 = time.perf_counter()
        request.set_input_tensor(tensor)
        request.start_async()
        times = ip.StageTimes(preprocess=t1 - t0, wait=t2 - t1)
        return ip.InFlight(self, request, tensor, image.shape[1], image.shape[0], t2, times)

    ip.InferencePool._start = _start
elif variant == "cv1":
    cv2.setNumThreads(1)
elif variant.startswith("nice"):
    from agent import capture

    serve = capture.WatchedCapture._serve

    def _serve(self):  # noqa: ANN001, ANN202
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), int(variant[4:]))
        serve(self)

    capture.WatchedCapture._serve = _serve
out = mc.child(mc.parse_args())
print(json.dumps({"variant": variant, "fps": out["aggregate_fps"],
                  **{" ".join(k.split(" ")[:2]): v for k, v in out["cpu_ms_per_frame"].items()}}))
