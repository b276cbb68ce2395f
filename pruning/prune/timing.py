"""IR latency for the loop: the pruned model timed in turns with its parent (`agent.timing`).

Timing the parent and the candidate in turns exposes both to the same load, so their *ratio* (the
speedup) stays meaningful on a shared machine even when the milliseconds drift; within its turn each
runs back to back, as the bench and benchmark_app time it. The thread count is
the caller's: the LUT's when the loop has one (the policy is `agent.timing`'s).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from agent.timing import interleaved_ms
from pruning.ssd.ssd import SSD


def speedup_vs(parent_xml: Path, model: SSD, runs: int, threads: int | None = None) -> tuple[float, float]:
    """(parent ms, model ms), timed in turns now; the model is exported to a temporary FP16 IR."""
    from pruning.export import save_ir

    with tempfile.TemporaryDirectory() as tmp:
        xml = save_ir(model, Path(tmp) / "model.xml")
        parent_ms, model_ms = interleaved_ms([parent_xml, xml], runs, threads)
    return parent_ms, model_ms
