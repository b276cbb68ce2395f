"""A pruned checkpoint into the model store: the baselines' release path, then pruning provenance.

The manifest gets the figures `release` measures through the stored IR (mAP@0.5, count MAE, FLOPs,
params, CPU latency) and, as provenance, the parent, method, target, LUT (path, sha256, device), the
filters per layer, and the LUT-estimated latency from the run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from models.lut import load_lut
from models.manifest import Provenance, sha256_file
from models.store import ModelStore, StoredModel
from pruning import checkpoint
from pruning.config import ModelConfig
from pruning.prune.records import PruneSettings, RunState
from pruning.release import ReleaseSettings, release, training_details
from pruning.structure import build_graph, to_spec


def provenance(run: Path, source: Path, parent: str | None) -> Provenance:
    settings = PruneSettings.model_validate_json((run / "prune.json").read_text())
    payload = checkpoint.read(source)
    state = RunState.model_validate(payload["state"])
    lut = load_lut(settings.lut) if settings.lut is not None else None
    timed_threads = (lut.thread_count if lut is not None else None) or settings.threads  # as Pruner.measure_threads
    details: dict[str, Any] = {
        "target": {"speedup": settings.target_speedup, "latency_ms": settings.target_latency_ms,
                   "max_map_drop": settings.max_map_drop},
        "importance": settings.importance, "run": str(run), "checkpoint": source.name,
        "steps": state.step, "stop_reason": state.stop_reason,
        "filters_per_layer": {n: w for n, w in payload["config"]["widths"].items() if n in state.original},
        "unpruned_filters_per_layer": state.original,
        "lut_estimated_ms": round(state.est_latency_ms, 3), "loop_measured_base_ms": round(state.base_ms, 3),
        "estimate_basis": f"the parent's FP16 IR latency as the loop measured it ({timed_threads} thread(s)) "
                          "less the LUT savings of every pruned layer (as fractions of the LUT's reference "
                          "model where it has one)",
        "finetune": {"every": settings.finetune_every, "steps": settings.finetune_steps,
                     "final_steps": settings.final_finetune_steps, "batch_size": settings.batch_size,
                     "lr": settings.lr, "distill": settings.distill},
        "parent_training": training_details(settings.checkpoint, ModelConfig.model_validate(payload["config"])),
    }
    if lut is not None:
        parent_model, parent_config = checkpoint.load_model(settings.checkpoint)
        spec = to_spec(build_graph(parent_model, parent_config.arch), parent_config.arch)
        details["lut"] = {"path": str(settings.lut), "sha256": sha256_file(settings.lut),
                          "device": lut.device, "device_name": lut.device_name, "step_period": lut.step_period,
                          "threads": lut.threads, "precision": lut.precision,
                          "saving_ms": round(lut.saving_ms(state.original, details["filters_per_layer"], spec), 3),
                          "saving_basis": "every pruned layer's row, a pruned consumer's overlap counted once"}
        fraction = lut.saved_fraction(state.original, details["filters_per_layer"], spec)
        if fraction is not None:
            details["lut"]["saved_fraction"] = round(fraction, 4)
            details["lut"]["reference"] = lut.reference
    else:
        details["cluster_size"] = settings.cluster_size
    return Provenance(kind="pruning", source=f"{source} (sha256 {sha256_file(source)[:16]})",
                      parent=parent or str(settings.checkpoint), method=method_label(settings), details=details)


def method_label(settings: PruneSettings) -> str:
    """The manifest's method: the selection and every setting that changes what it selects, e.g.
    `hybrid-lw0.5-rows+snap`, `cluster-16` (a fixed cluster size, no LUT)."""
    method = settings.method if settings.lut or settings.method == "filter" else \
        f"{settings.method}-{settings.cluster_size}"
    if settings.method == "hybrid" and settings.loss_images:
        method += f"-{settings.sensitivity}"
    if settings.method == "hybrid" and settings.latency_weight_final is not None:
        method += f"-lw{settings.latency_weight:g}to{settings.latency_weight_final:g}"
    elif settings.method == "hybrid" and settings.latency_weight:
        method += f"-lw{settings.latency_weight:g}"
    if settings.method in ("cluster", "hybrid") and settings.lut and settings.stepless != "period":
        method += f"-{settings.stepless}"
    return method + ("+snap" if settings.snap_final else "")


def export_variant(run: Path, store: ModelStore, settings: ReleaseSettings, checkpoint_name: str = "final.pt",
                   parent: str | None = None) -> StoredModel:
    """Release `run/checkpoint_name` with the run's pruning provenance (the manifest is written once)."""
    source = run / checkpoint_name
    return release(source, store, settings, provenance(run, source, parent))


def summary_line(stored: StoredModel) -> str:
    m = stored.manifest
    return json.dumps({"ref": f"{m.name}@{m.version}", "map50": m.metrics.map50, "count_mae": m.metrics.count_mae,
                       "latency_ms": m.metrics.latency_ms, "flops": m.metrics.flops, "params": m.metrics.params,
                       "lut_estimated_ms": m.provenance.details.get("lut_estimated_ms")})
