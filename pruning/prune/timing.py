"""IR latency on this CPU for the loop: the pruned model timed interleaved with its parent.

On a machine shared with other jobs, absolute latency drifts by tens of percent within minutes; timing
the parent and the candidate alternately (one inference each, in turn) exposes both to the same load,
so their *ratio* (the speedup) stays meaningful even when the milliseconds do not.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from pruning.ssd.ssd import SSD


def _compiled(xml: Path, threads: int) -> object:
    import openvino as ov

    core = ov.Core()
    config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": str(threads)}
    return core.compile_model(core.read_model(xml), "CPU", config)


def interleaved_ms(xmls: list[Path], runs: int, threads: int = 1, warmup: int = 5) -> list[float]:
    """Median ms per inference of each IR, the IRs run in turn one inference at a time."""
    requests = [_compiled(xml, threads).create_infer_request() for xml in xmls]  # type: ignore[attr-defined]
    data = np.random.default_rng(0).uniform(0, 255, (1, 3, *_hw(xmls[0]))).astype(np.float32)
    times: list[list[float]] = [[] for _ in xmls]
    for i in range(warmup + runs):
        for request, bucket in zip(requests, times, strict=True):
            started = time.perf_counter()
            request.infer({0: data})
            if i >= warmup:
                bucket.append((time.perf_counter() - started) * 1000)
    return [float(statistics.median(bucket)) for bucket in times]


def _hw(xml: Path) -> tuple[int, int]:
    import openvino as ov

    shape = ov.Core().read_model(xml).inputs[0].get_shape()
    return int(shape[2]), int(shape[3])


def speedup_vs(parent_xml: Path, model: SSD, runs: int, threads: int = 1) -> tuple[float, float]:
    """(parent ms, model ms), timed interleaved now; the model is exported to a temporary FP16 IR."""
    from pruning.export import save_ir

    with tempfile.TemporaryDirectory() as tmp:
        xml = save_ir(model, Path(tmp) / "model.xml")
        parent_ms, model_ms = interleaved_ms([parent_xml, xml], runs, threads)
    return parent_ms, model_ms
