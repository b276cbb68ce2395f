"""The greedy pruning loop: select, remove, fine-tune every k steps, track mAP, stop at a target, resume.

Run directory: `prune.json` (settings), `current.pt` (model + `RunState`, written after every step, so
an interrupted run resumes where it was), `state.json` (readable mirror), `steps.jsonl` (one
`StepRecord` per step), `good.pt` (last evaluated model within `max_map_drop`), `snap-<s>x.pt`
(snapshots at speedups), `final.pt`, `history.json` (replayable: `surgery.replay`), `summary.json`.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import time
from dataclasses import asdict
from pathlib import Path

import torch
from tqdm import tqdm

from models.scoring import load_dataset
from pruning import checkpoint
from pruning.architectures import unit_widths
from pruning.distill import Distiller
from pruning.flops import count_flops, count_params
from pruning.prune.clusters import Candidate, FlopCost, best_cluster
from pruning.prune.conventional import lowest_filters
from pruning.prune.finetune import (
    FinetuneProgress,
    FinetuneSettings,
    detection_loss,
    finetune,
    split_validation,
    validate,
)
from pruning.prune.hybrid import cheapest_clusters, snap_stage
from pruning.prune.importance import Taylor, make_importance
from pruning.prune.lut import LayerLatency
from pruning.prune.records import Change, PruneSettings, RunState, StepRecord
from pruning.prune.sensitivity import LossProbe, calibration_batches
from pruning.prune.surgery import groups_of, prune_group
from pruning.prune.timing import speedup_vs
from pruning.ssd.ssd import SSD
from pruning.structure import build_graph, to_spec

log = logging.getLogger(__name__)
FINAL_KEY = 1_000_000
"""Fine-tune seed key of the final fine-tune (steps use their step number)."""
CONFIRM_READINGS = 3
"""Readings a measured speedup that would stop the run or take a snapshot is judged on (their median): on a
busy machine one reading can run 25 % fast, and a run stopped on it lands short of its target."""
RESUMABLE_CHANGES = ("max_steps", "max_rollbacks")
"""Settings a resumed run may be given anew (they bound the run, they do not change its steps)."""


class Pruner:
    """One pruning run (`settings.out`); `run()` starts or resumes it and returns the final checkpoint."""

    progress_every = 50
    """Steps between the progress saves of a final fine-tune."""

    def __init__(self, settings: PruneSettings, progress: bool = True) -> None:
        if settings.loss_images and settings.method != "hybrid":
            raise ValueError(f"--loss-images ranks the hybrid's clusters; --method {settings.method} has none")
        if settings.latency_weight_final is not None and (settings.method != "hybrid" or not settings.target_speedup):
            raise ValueError("--latency-weight-final moves the hybrid's latency weight towards --target-speedup; "
                             f"it needs --method hybrid (got {settings.method}) and --target-speedup")
        self.s = settings
        self.progress = progress
        self.out = settings.out
        parent, self.config = checkpoint.load_model(settings.checkpoint)
        self.arch = self.config.arch
        self.labels = dict(self.config.labels)
        annotations = load_dataset(settings.data, "train", {v: k for k, v in self.labels.items()})
        self.train_set, self.val_set = split_validation(annotations, settings.val_every, settings.val_images)
        self.ft = FinetuneSettings(settings.batch_size, settings.lr, seed=settings.seed)
        self.importance = make_importance(settings.importance)
        self.table = LayerLatency.load(settings.lut, to_spec(build_graph(parent, self.arch), self.arch),
                                       settings.min_width, settings.stepless) if settings.lut else None
        if settings.method in ("cluster", "hybrid") and self.table is None and settings.cluster_size is None:
            raise ValueError(f"--method {settings.method} needs --lut or --cluster-size")
        if settings.snap_final and self.table is None:
            raise ValueError("--snap-final needs --lut (the steps to snap to)")
        self.cost = FlopCost(parent)
        self.probe = LossProbe(calibration_batches(self.train_set, parent, settings.loss_images, settings.batch_size,
                                                   settings.seed), self.arch, settings.sensitivity) \
            if settings.loss_images else None
        self.parent = parent
        # The teacher is a frozen copy: `parent` itself is pruned in place by a fresh run.
        self.distiller = Distiller(copy.deepcopy(parent), settings.distill) if settings.distill > 0 else None

    # ---- run directory ------------------------------------------------------------------------------
    def _save(self, name: str, model: SSD, state: RunState) -> None:
        checkpoint.save(self.out / name, model, self.config, state=state.model_dump(mode="json"))
        if name == "current.pt":
            (self.out / "state.json").write_text(state.model_dump_json(indent=1))

    def _load(self, name: str) -> tuple[SSD, RunState]:
        model, _ = checkpoint.load_model(self.out / name)
        return model.eval(), RunState.model_validate(checkpoint.read(self.out / name)["state"])

    def _log(self, record: StepRecord) -> None:
        with (self.out / "steps.jsonl").open("a") as fh:
            fh.write(record.model_dump_json() + "\n")

    def _check_settings(self) -> None:
        path = self.out / "prune.json"
        if path.is_file():
            old = PruneSettings.model_validate_json(path.read_text())
            diff = [k for k in PruneSettings.model_fields
                    if getattr(old, k) != getattr(self.s, k) and k not in RESUMABLE_CHANGES]
            if diff:
                raise ValueError(f"{path}: run was started with other settings ({', '.join(diff)}); "
                                 "use the same ones or another --out")
        self.out.mkdir(parents=True, exist_ok=True)
        path.write_text(self.s.model_dump_json(indent=1))

    @property
    def measure_threads(self) -> int:
        """Threads the loop times IRs with: the LUT's (the deployment's, so that targets and the LUT share
        one scale), else `--threads`. A 1-thread reading can rank variants differently from 2 threads."""
        threads = self.table.lut.thread_count if self.table is not None else None
        return threads or self.s.threads

    # ---- estimates ----------------------------------------------------------------------------------
    def estimate(self, model: SSD, state: RunState) -> float:
        if self.table is not None:
            return self.table.estimate(state.base_ms, unit_widths(model), state.original)
        return state.base_ms * count_flops(model, tuple(self.config.input_size)) / state.base_flops

    def target_ms(self, state: RunState) -> float | None:
        if self.s.target_latency_ms is not None:
            return self.s.target_latency_ms
        return state.base_ms / self.s.target_speedup if self.s.target_speedup else None

    def _start(self) -> tuple[SSD, RunState]:
        model = self.parent
        report = validate(model, self.val_set, self.labels)
        if self.s.measure_runs:
            from pruning.export import save_ir

            save_ir(model, self.out / "parent" / "model.xml")
            base_ms = self._time(model)[0]
        else:
            base_ms = sum(self.table.ms(n, g.width) for n, g in groups_of(model, self.arch).items()) \
                if self.table else 1.0
        state = RunState(base_ms=base_ms, base_map=100 * report.map50, est_latency_ms=base_ms,
                         base_flops=count_flops(model, tuple(self.config.input_size)),
                         original={n: g.width for n, g in groups_of(model, self.arch).items()})
        self._save("current.pt", model, state)
        self._save("good.pt", model, state)
        log.info("start: validation mAP %.2f, %.2f ms", state.base_map, base_ms)
        return model, state

    # ---- one step -----------------------------------------------------------------------------------
    def latency_weight(self, state: RunState) -> float:
        """The hybrid's latency weight now: constant, or moved towards `latency_weight_final` with the
        run's progress from no speedup (0) to the target (1)."""
        start, final = self.s.latency_weight, self.s.latency_weight_final
        if final is None or not self.s.target_speedup:
            return start
        progress = (state.base_ms / self.latency(state)[0] - 1) / (self.s.target_speedup - 1)
        return start + (final - start) * min(max(progress, 0.0), 1.0)

    def _select(self, model: SSD, step: int, original: dict[str, int], frozen: list[str] | None = None,
                latency_weight: float | None = None) -> list[Candidate]:
        """The next step's clusters (filters, for the conventional method); the hybrid ranks with
        `latency_weight` (default: the run's constant `--latency-weight`)."""
        groups = groups_of(model, self.arch)
        floors = {n: math.ceil(self.s.min_keep * w) for n, w in original.items()}
        floors.update({n: groups[n].width for n in frozen or [] if n in groups})
        if isinstance(self.importance, Taylor) and (step % self.s.finetune_every == 0 or not
                                                   self.importance.scores):
            loader = iter(self._taylor_batches(model, step))
            self.importance.accumulate(model, [next(loader) for _ in range(self.s.taylor_batches)],
                                       detection_loss)  # type: ignore[arg-type]
        if self.s.method == "filter":
            return lowest_filters(groups, self.importance, self.s.filters_per_step, self.s.min_width, floors)
        if self.s.method == "hybrid":
            return cheapest_clusters(groups, self.importance, self.s.filters_per_step, self.table,
                                     self.s.cluster_size, self.cost, self.s.min_width, floors,
                                     self.s.latency_weight if latency_weight is None else latency_weight,
                                     self.probe.costs(model) if self.probe else None)
        best = best_cluster(groups, self.importance, self.table, self.s.cluster_size, self.cost, self.s.min_width,
                            floors)
        return [best] if best is not None else []

    def _taylor_batches(self, model: SSD, step: int) -> object:
        from pruning.prune.finetune import batches

        return batches(self.train_set, model, self.ft, 500_000 + step, augment=False)

    def _apply(self, model: SSD, candidates: list[Candidate]) -> list[Change]:
        changes = []
        for cand in candidates:
            group = groups_of(model, self.arch)[cand.group]
            keep = prune_group(group, cand.dropped)
            if isinstance(self.importance, Taylor):
                self.importance.pruned(group, keep)
            changes.append(Change(layer=cand.group, before=cand.width_before, after=cand.width_after,
                                  dropped=cand.dropped))
        return changes

    def _evaluate(self, model: SSD, record: StepRecord, key: int, steps: int, name: str | None = None) -> SSD:
        """Fine-tune, validate and (if the run measures) time `model`; returns it.

        A named fine-tune (the final ones) saves its progress to `<name>.progress.pt` every
        `progress_every` steps and resumes from there, so a long final fine-tune survives an interruption;
        the model it returns is then the resumed one."""
        if name is None:
            record.loss = finetune(model, self.train_set, steps, self.ft, key, self.distiller)
        else:
            model, record.loss = self._resumable_finetune(model, steps, key, self.out / f"{name}.progress.pt")
        record.map50 = 100 * validate(model, self.val_set, self.labels).map50
        if self.s.measure_runs:
            parent_ms, model_ms = self._time(model)
            record.measured_speedup = round(parent_ms / model_ms, 4)
            record.measured_ms = round(model_ms, 3)
        return model

    def _time(self, model: SSD) -> tuple[float, float]:
        """(parent ms, model ms), timed in turns now (`speedup_vs`)."""
        return speedup_vs(self.out / "parent" / "model.xml", model, self.s.measure_runs, self.measure_threads)

    def _crosses(self, state: RunState, speedup: float) -> bool:
        """Whether a measured `speedup` would stop the run or take a snapshot."""
        target = self.target_ms(state)
        pending = set(self.s.snapshots) - set(state.snapshots_taken)
        return any(speedup >= s for s in pending) or (target is not None and state.base_ms / speedup <= target)

    def _confirm(self, model: SSD, record: StepRecord) -> None:
        """Read a threshold-crossing speedup again: the record keeps the median of `CONFIRM_READINGS`."""
        readings = [(record.measured_speedup or 0.0, record.measured_ms or 0.0)]
        for _ in range(CONFIRM_READINGS - 1):
            parent_ms, model_ms = self._time(model)
            readings.append((parent_ms / model_ms, model_ms))
        speedup, model_ms = sorted(readings)[len(readings) // 2]
        log.info("step %d: %.2fx would cross a snapshot or the target; read again: %s, median %.2fx",
                 record.step, readings[0][0], ", ".join(f"{r[0]:.2f}x" for r in readings[1:]), speedup)
        record.measured_speedup, record.measured_ms = round(speedup, 4), round(model_ms, 3)

    def _save_progress(self, path: Path, model: SSD, progress: FinetuneProgress) -> None:
        checkpoint.save(path, model, self.config, progress=asdict(progress))

    def _resumable_finetune(self, model: SSD, steps: int, key: int, path: Path) -> tuple[SSD, float]:
        resume = None
        if path.is_file():
            model, _ = checkpoint.load_model(path)
            resume = FinetuneProgress(**checkpoint.read(path)["progress"])

        def save(progress: FinetuneProgress) -> None:
            self._save_progress(path, model, progress)

        loss = finetune(model, self.train_set, steps, self.ft, key, self.distiller, resume, save, self.progress_every)
        path.unlink(missing_ok=True)
        return model, loss

    def _step(self, model: SSD, state: RunState) -> StepRecord | None:
        started = time.time()
        candidates = self._select(model, state.step, state.original, state.frozen, self.latency_weight(state))
        if not candidates:
            return None
        changes = self._apply(model, candidates)
        state.step += 1
        state.history.extend(changes)
        state.est_latency_ms = self.estimate(model, state)
        record = StepRecord(step=state.step, changes=changes, gain=sum(c.gain for c in candidates),
                            importance_lost=sum(c.importance_lost for c in candidates),
                            est_latency_ms=round(state.est_latency_ms, 3),
                            est_speedup=round(state.base_ms / state.est_latency_ms, 4), seconds=0.0)
        if self.probe is not None:
            record.loss_rise = round(sum(self.probe.cache[c.group, c.width_before] for c in candidates), 5)
        if state.step % self.s.finetune_every == 0:
            self._evaluate(model, record, state.step, self.s.finetune_steps)
            if record.measured_speedup and self._crosses(state, record.measured_speedup):
                self._confirm(model, record)
            if self.probe is not None:
                self.probe.forget()
            state.measured_speedup = record.measured_speedup or state.measured_speedup
        record.seconds = round(time.time() - started, 2)
        state.seconds += record.seconds
        return record

    # ---- the loop -----------------------------------------------------------------------------------
    def latency(self, state: RunState) -> tuple[float, str]:
        """What targets and snapshots are judged on: the IR latency measured at the last evaluation when
        the run measures (the LUT's estimate can be far off on a busy machine), else the estimate."""
        if self.s.measure_runs and state.measured_speedup is not None:
            return state.base_ms / state.measured_speedup, "measured (speedup vs parent, interleaved)"
        return state.est_latency_ms, "estimated"

    def _stop_reason(self, state: RunState) -> str | None:
        target = self.target_ms(state)
        latency, kind = self.latency(state)
        if target is not None and latency <= target:
            return f"target reached: {kind} {latency:.2f} ms <= {target:.2f} ms"
        if state.step >= self.s.max_steps:
            return f"max steps ({self.s.max_steps})"
        return None

    def _after_step(self, model: SSD, state: RunState, record: StepRecord) -> tuple[SSD, RunState]:
        if record.map50 is not None:
            drop = state.base_map - record.map50
            if self.s.max_map_drop is not None and drop > self.s.max_map_drop:
                self._log(record)
                return self._roll_back(state, record, drop)
            state.last_good_step = state.step
            self._save("good.pt", model, state)
        for speedup in sorted(set(self.s.snapshots) - set(state.snapshots_taken)):
            if state.base_ms / self.latency(state)[0] >= speedup:
                state.snapshots_taken.append(speedup)
                self._save(f"snap-{speedup:g}x.pt", model, state)
        self._save("current.pt", model, state)
        self._log(record)
        return model, state

    def _roll_back(self, lost: RunState, record: StepRecord, drop: float) -> tuple[SSD, RunState]:
        """Back to `good.pt` after a collapse; with roll-backs left, the layers the lost steps changed stay
        at their width from then on and pruning goes on (which of them broke it, one evaluation cannot
        tell), else the run stops there."""
        model, state = self._load("good.pt")
        if self.probe is not None:
            self.probe.forget()
        what = f"validation mAP drop {drop:.2f} > {self.s.max_map_drop} at step {record.step}: " \
               f"back to step {state.step}"
        if lost.rollbacks < self.s.max_rollbacks:
            changed = {c.layer for c in lost.history[len(state.history):]}
            state.frozen = sorted(set(lost.frozen) | changed)
            state.rollbacks = lost.rollbacks + 1
            state.seconds = lost.seconds
            if isinstance(self.importance, Taylor):
                self.importance.scores = {}  # they followed the lost steps' surgery
            log.info("%s; kept at their width from now on: %s", what, ", ".join(sorted(changed)))
        else:
            state.stop_reason = what
            state.phase = "final"
        self._save("current.pt", model, state)
        return model, state

    def _prune(self, model: SSD, state: RunState) -> tuple[SSD, RunState]:
        bar = tqdm(desc=f"prune {self.arch} ({self.s.method})", initial=state.step, disable=not self.progress,
                   mininterval=10)
        while state.phase == "pruning":
            reason = self._stop_reason(state)
            record = None if reason else self._step(model, state)
            if record is None:
                state.stop_reason = reason or "no layer can shrink further"
                state.phase = "final"
                self._save("current.pt", model, state)
                break
            model, state = self._after_step(model, state, record)
            bar.update(1)
            bar.set_postfix(ms=f"{state.est_latency_ms:.2f}", map=record.map50, refresh=False)
        bar.close()
        return model, state

    def run(self) -> Path:
        torch.set_num_threads(self.s.threads)
        self._check_settings()
        model, state = self._load("current.pt") if (self.out / "current.pt").is_file() else self._start()
        if state.phase == "pruning":
            model, state = self._prune(model, state)
        if state.phase == "final" and self.s.snap_final and not state.snapped:
            snap_stage(self, model, state)
        if state.phase == "final":
            finish(self, model, state)
        return self.out / "final.pt"


def finish(pruner: Pruner, model: SSD, state: RunState) -> None:
    """Final fine-tune, validation, `final.pt`, `history.json` and `summary.json`."""
    record = StepRecord(step=state.step, changes=[], gain=0.0, importance_lost=0.0,
                        est_latency_ms=round(state.est_latency_ms, 3),
                        est_speedup=round(state.base_ms / state.est_latency_ms, 4), seconds=0.0)
    started = time.time()
    model = pruner._evaluate(model, record, FINAL_KEY, pruner.s.final_finetune_steps, "final")
    record.seconds = round(time.time() - started, 2)
    state.seconds += record.seconds
    state.phase = "done"
    pruner._save("final.pt", model, state)
    pruner._save("current.pt", model, state)
    pruner._log(record)
    (pruner.out / "history.json").write_text(json.dumps([c.model_dump() for c in state.history]))
    summary = {"arch": pruner.arch, "method": pruner.s.method, "stop_reason": state.stop_reason,
               "steps": state.step, "base_ms": state.base_ms, "base_val_map50": state.base_map,
               "est_latency_ms": state.est_latency_ms, "measured_ms": record.measured_ms,
               "measured_speedup": record.measured_speedup,
               "val_map50": record.map50, "flops": count_flops(model, tuple(pruner.config.input_size)),
               "base_flops": state.base_flops, "params": count_params(model), "seconds": round(state.seconds, 1),
               "rollbacks": state.rollbacks, "frozen": state.frozen,
               "widths": {n: g.width for n, g in groups_of(model, pruner.arch).items()}}
    (pruner.out / "summary.json").write_text(json.dumps(summary, indent=1))
    log.info("done: %s", summary)


def finish_snapshots(pruner: Pruner) -> list[Path]:
    """Give every `snap-<s>x.pt` the same final fine-tune as the final model -> `snap-<s>x-final.pt`."""
    done = []
    for speedup in pruner.s.snapshots:
        source, target = f"snap-{speedup:g}x.pt", f"snap-{speedup:g}x-final.pt"
        if not (pruner.out / source).is_file() or (pruner.out / target).is_file():
            continue
        model, state = pruner._load(source)
        record = StepRecord(step=state.step, changes=[], gain=0.0, importance_lost=0.0,
                            est_latency_ms=round(state.est_latency_ms, 3),
                            est_speedup=round(state.base_ms / state.est_latency_ms, 4), seconds=0.0)
        model = pruner._evaluate(model, record, FINAL_KEY, pruner.s.final_finetune_steps, target.removesuffix(".pt"))
        state.stop_reason = f"snapshot at {speedup:g}x, final val mAP {record.map50:.2f}"
        pruner._save(target, model, state)
        done.append(pruner.out / target)
    return done
