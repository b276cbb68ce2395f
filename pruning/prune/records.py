"""What a pruning run writes: its settings, its state (for resume), one JSON line per step, a summary."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PruneSettings(_Strict):
    """`prune.json` of a run; a resumed run must be given the same settings."""

    checkpoint: Path = Field(description="Parent (unpruned) checkpoint.")
    data: Path = Field(description="VOC dataset root (its train split is fine-tuned on and validated on).")
    out: Path
    method: Literal["cluster", "filter"] = Field(description="cluster: LUT steps; filter: conventional.")
    lut: Path | None = Field(default=None, description="lut.json measured for this model on the device.")
    cluster_size: int | None = Field(default=None, gt=0, description="Fixed cluster size (no LUT).")
    filters_per_step: int = Field(default=16, gt=0, description="Conventional: filters removed per step.")
    importance: Literal["l1", "l2", "taylor"] = "l2"
    taylor_batches: int = Field(default=2, gt=0)
    target_speedup: float | None = Field(default=None, gt=1.0)
    target_latency_ms: float | None = Field(default=None, gt=0)
    max_map_drop: float | None = Field(default=None, ge=0, description="Points of validation mAP@0.5.")
    snapshots: list[float] = Field(default_factory=list, description="Speedups at which to keep a copy.")
    finetune_every: int = Field(default=5, gt=0)
    finetune_steps: int = Field(default=10, ge=0)
    final_finetune_steps: int = Field(default=100, ge=0)
    distill: float = Field(default=0.0, ge=0, description="Weight of distillation from the parent in every "
                           "fine-tune (pruning/distill.py); 0: the labels alone.")
    batch_size: int = Field(default=8, gt=0)
    lr: float = Field(default=5e-4, gt=0)
    val_every: int = Field(default=5, gt=0)
    val_images: int = Field(default=60, gt=0)
    min_width: int = Field(default=8, gt=0)
    min_keep: float = Field(default=0.0, ge=0, lt=1, description="Fraction of its unpruned width a layer keeps.")
    max_steps: int = Field(default=1000, gt=0)
    measure_runs: int = Field(default=30, ge=0, description="IR latency runs at each evaluation; 0: never.")
    seed: int = 0
    threads: int = 1


class Change(_Strict):
    layer: str
    before: int
    after: int
    dropped: list[int] = Field(description="Filter indices at the time of the step (replayable).")


class StepRecord(_Strict):
    """One line of `steps.jsonl`."""

    step: int
    changes: list[Change]
    gain: float = Field(description="Selection gain: LUT ms saved, or FLOPs (fixed size), 0 (filter).")
    importance_lost: float
    est_latency_ms: float
    est_speedup: float
    measured_ms: float | None = Field(default=None, description="IR median, timed interleaved with the parent.")
    measured_speedup: float | None = Field(default=None, description="Parent ms / this ms, same rounds.")
    map50: float | None = Field(default=None, description="Validation mAP@0.5, percent.")
    loss: float | None = None
    seconds: float


class RunState(_Strict):
    """Kept inside the current checkpoint (and mirrored to `state.json`): everything a resume needs."""

    step: int = 0
    phase: Literal["pruning", "final", "done"] = "pruning"
    base_ms: float
    base_map: float
    base_flops: int
    original: dict[str, int] = Field(description="Unpruned widths of the prunable roots.")
    est_latency_ms: float
    measured_speedup: float | None = Field(default=None, description="At the last evaluation (IR, this CPU).")
    history: list[Change] = Field(default_factory=list)
    last_good_step: int = 0
    snapshots_taken: list[float] = Field(default_factory=list)
    stop_reason: str | None = None
    seconds: float = 0.0
