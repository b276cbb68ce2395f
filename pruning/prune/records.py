"""What a pruning run writes: its settings, its state (for resume), one JSON line per step, a summary."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from models.base import StrictModel

Stepless = Literal["period", "rows"]
"""Where a LUT row shows no step: the period grid, or the row's profiling stride (`LayerLatency.next_step`)."""


class _Strict(StrictModel):
    """Run records are strict (`models.base`)."""


class PruneSettings(_Strict):
    """`prune.json` of a run; a resumed run must be given the same settings.

    The descriptions and defaults here are also the `headcount-prune prune` options' help and defaults.
    """

    checkpoint: Path = Field(description="Parent (unpruned) checkpoint.")
    data: Path = Field(description="VOC dataset root (its train split is fine-tuned on and validated on).")
    out: Path = Field(description="Run directory (resumed if it holds a run).")
    method: Literal["cluster", "filter", "hybrid"] = Field(
        default="cluster", description="cluster: LUT-step clusters by time saved per importance; filter: "
        "conventional, by global rank; hybrid: global rank in LUT-step clusters (pruning/prune/hybrid.py).")
    lut: Path | None = Field(default=None, description="lut.json of `headcount-agent profile` for this model's "
                             "spec, measured with the deployment's thread count.")
    cluster_size: int | None = Field(default=None, gt=0, description="Fixed cluster size when there is no LUT.")
    filters_per_step: int = Field(default=16, gt=0, description="Conventional and hybrid: filters removed "
                                  "per step (hybrid: whole clusters until at least this many).")
    latency_weight: float = Field(default=0.0, ge=0, le=1, description="Hybrid: rank clusters by mean "
                                  "importance per filter over (their LUT time saved per filter, relative to "
                                  "the candidates' mean) to this power; 0: importance alone, 1: time saved per "
                                  "importance, as cluster pruning ranks.")
    latency_weight_final: float | None = Field(default=None, ge=0, le=1, description="Hybrid, with "
                                               "--target-speedup: the latency weight at the target; it moves "
                                               "linearly from --latency-weight at the start to this as the "
                                               "run's speedup (measured where it measures) nears the target "
                                               "(importance first, while redundant filters are free; time "
                                               "saved later); unset: constant.")
    loss_images: int = Field(default=0, ge=0, description="Hybrid: rank clusters by the rise in detection loss "
                             "their removal causes, measured without fine-tuning on this many fixed training "
                             "images (pruning/prune/sensitivity.py), instead of by filter importance; 0: by "
                             "importance.")
    sensitivity: Literal["loss", "outputs"] = Field(default="loss", description="With --loss-images: loss: "
                                                    "the rise in detection loss; outputs: how far the "
                                                    "outputs move from the current model's (the "
                                                    "distillation distance, never negative).")
    stepless: Stepless = Field(default="period", description="Cluster and hybrid, with --lut: "
                                                "where a layer's LUT row shows no step below its width, period: "
                                                "cut to the next multiple of the LUT's step period (a step may "
                                                "hide in the noise); rows: to the next multiple of the row's "
                                                "profiling stride (a smooth row: every filter buys time).")
    snap_final: bool = Field(default=False, description="Before the final fine-tune, bring every pruned layer "
                             "off its LUT steps down to the step below (never below its floor).")
    importance: Literal["l1", "l2", "taylor"] = Field(default="l2", description="Filter importance criterion.")
    taylor_batches: int = Field(default=2, gt=0, description="Batches Taylor importance accumulates over.")
    target_speedup: float | None = Field(default=None, gt=1.0, description="Stop at this speedup.")
    target_latency_ms: float | None = Field(default=None, gt=0, description="Stop at this latency.")
    max_map_drop: float | None = Field(default=None, ge=0, description="Stop (and roll back) beyond this "
                                       "validation mAP@0.5 drop, points.")
    snapshots: list[float] = Field(default_factory=list, description="Speedups at which to keep a copy "
                                   "(comma-separated, e.g. 1.25,1.5).")
    finetune_every: int = Field(default=5, gt=0, description="Fine-tune and validate every this many steps.")
    finetune_steps: int = Field(default=10, ge=0, description="Optimizer steps of each of those fine-tunes.")
    final_finetune_steps: int = Field(default=100, ge=0, description="Optimizer steps of the final fine-tune.")
    distill: float = Field(default=0.0, ge=0, description="Weight of distillation from the parent in every "
                           "fine-tune (pruning/distill.py); 0: the labels alone.")
    batch_size: int = Field(default=8, gt=0, description="Fine-tuning batch size.")
    lr: float = Field(default=5e-4, gt=0, description="AdamW learning rate (cosine decay in each fine-tune).")
    val_every: int = Field(default=5, gt=0, description="Every N-th train image is held out for validation.")
    val_images: int = Field(default=60, gt=0, description="At most this many validation images.")
    min_width: int = Field(default=8, gt=0, description="No layer goes below this many filters.")
    min_keep: float = Field(default=0.0, ge=0, lt=1, description="Fraction of its unpruned width a layer keeps.")
    max_steps: int = Field(default=1000, gt=0, description="Stop after this many steps (may change on resume).")
    max_rollbacks: int = Field(default=0, ge=0, description="On a validation drop beyond --max-map-drop, go back "
                               "to the last good step, keep every layer the lost steps changed at its width "
                               "from then on, and go on pruning, at most this many times (may change on "
                               "resume); 0: stop there.")
    measure_runs: int = Field(default=60, ge=0, description="Timed inferences of the model and of its parent at "
                              "each evaluation, the two taking turns (`agent.timing.time_interleaved`); 0: never.")
    seed: int = Field(default=0, description="Seed of fine-tuning order and augmentation.")
    threads: int = Field(default=1, gt=0, description="torch threads; also the IR timing's without a LUT (with "
                         "one, IRs are timed with the LUT's thread count).")


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
    loss_rise: float | None = Field(default=None, description="Measured loss rise of the chosen clusters, summed "
                                    "(--loss-images).")
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
    snapped: bool = Field(default=False, description="The --snap-final stage has run.")
    frozen: list[str] = Field(default_factory=list, description="Layers kept at their width after a roll-back.")
    rollbacks: int = Field(default=0, description="Roll-backs so far (--max-rollbacks).")
    stop_reason: str | None = None
    seconds: float = 0.0
