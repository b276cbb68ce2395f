"""Sweeping kept-filter counts per layer: a strided first pass, refinement around changes, a budget, resume.

The first pass times every `stride`-th count (aligned to multiples of the stride, plus the smallest
and the full count). Wherever two neighbouring counts differ by more than noise and smooth slope
explain, every count in between is timed too, together with the two ends again, so step boundaries
are located to the filter. The table is saved after each layer; a run stops before a layer it
estimates would overrun the time budget, and a later run with the same output file resumes.
"""

from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import openvino as ov

from agent.profile.graphs import build_layer_model
from agent.profile.spec_io import profiled_layers
from agent.profile.steps import (
    StepRule,
    common_period,
    detect_period,
    difference_noise,
    intervals_to_refine,
    step_boundaries,
)
from agent.profile.timing import Measurement, Timer
from models.layer_spec import LayerSpec, ModelSpec
from models.lut import LayerLut, Lut, LutError, LutPoint, load_lut, save_lut

Progress = Callable[[str], None]


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Reference:
    """The whole unpruned model, timed in every chunk of every layer's counts: the scale of its rows
    (`LayerLut.reference_ms`), so estimates can be fractions of the model, which drift cannot bias."""

    name: str
    """NAME@VERSION or the IR's path, recorded in the LUT."""
    model: ov.Model | ov.CompiledModel
    """Compiled once per profile run (`profile_spec`), then timed in every chunk."""


@dataclass(frozen=True)
class SweepSettings:
    """What to measure per layer. `counts` replaces the strided first pass (direct checks, tests)."""

    stride: int = 4
    min_filters: int = 1
    chunk: int = 48
    refine: bool = True
    rule: StepRule = field(default_factory=StepRule)
    counts: tuple[int, ...] | None = None
    int8: bool = False
    """Time int8 convolutions (FakeQuantize on inputs and weights), as a quantized variant runs."""
    reference: Reference | None = None


def first_pass_counts(layer: LayerSpec, settings: SweepSettings) -> list[int]:
    if settings.counts:
        return sorted({c for c in settings.counts if 1 <= c <= layer.out_channels})
    lowest = max(1, min(settings.min_filters, layer.out_channels))
    strided = range(settings.stride, layer.out_channels + 1, settings.stride)
    return sorted({lowest, layer.out_channels, *(c for c in strided if c >= lowest)})


REFERENCE = 0
"""Key of the reference model among a chunk's counts (counts start at 1)."""


def _measure(timer: Timer, spec: ModelSpec, layer: LayerSpec, counts: list[int], settings: SweepSettings
             ) -> dict[int, Measurement]:
    """Time `counts` in contiguous chunks (each chunk interleaved), to bound memory for wide layers; with a
    reference model, it runs in every chunk's rounds too and its minima are pooled under `REFERENCE`."""
    results: dict[int, Measurement] = {}
    for start in range(0, len(counts), settings.chunk):
        part = counts[start:start + settings.chunk]
        models = {c: build_layer_model(spec, layer, c, int8=settings.int8) for c in part}
        if settings.reference is not None:
            models[REFERENCE] = settings.reference.model
        for key, measured in timer.measure(models).items():
            results.setdefault(key, Measurement()).minima.extend(measured.minima)
    return results


def _points(measured: dict[int, Measurement]) -> list[tuple[int, float]]:
    return [(c, measured[c].ms) for c in sorted(measured)]


def _noise(measured: dict[int, Measurement]) -> float:
    return float(np.median([m.spread_ms for m in measured.values()]))


def _difference_noise(measured: dict[int, Measurement]) -> float:
    """Noise a step is tested against: the curve's own scatter, else (few counts) the per-count spread.

    For n normal samples the lower quartile minus the minimum is about 0.6 sd, so a difference of two
    counts' latencies has sd ~ 1.7 * sqrt(2) * spread.
    """
    from_curve = difference_noise(_points(measured))
    return from_curve if from_curve is not None else 2.4 * _noise(measured)


def profile_layer(timer: Timer, spec: ModelSpec, layer: LayerSpec, settings: SweepSettings) -> LayerLut:
    """Latency vs kept filters for one layer (with its consumers), its steps and their period."""
    started = time.perf_counter()
    measured = _measure(timer, spec, layer, first_pass_counts(layer, settings), settings)
    reference = measured.pop(REFERENCE, None)
    if settings.refine:
        gaps = intervals_to_refine(_points(measured), _difference_noise(measured), settings.rule)
        batch = sorted({c for lo, hi in gaps for c in range(lo, hi + 1)})
        refined = _measure(timer, spec, layer, batch, settings)
        if reference is not None and REFERENCE in refined:
            reference.minima.extend(refined.pop(REFERENCE).minima)
        for count, extra in refined.items():
            measured.setdefault(count, Measurement()).minima.extend(extra.minima)
    noise, step_noise = _noise(measured), _difference_noise(measured)
    bounds = step_boundaries(_points(measured), step_noise, settings.rule)
    period, aligned = detect_period(bounds)
    return LayerLut(
        name=layer.name, kind=layer.kind, in_channels=layer.in_channels, out_channels=layer.out_channels,
        consumers=list(layer.consumers),
        points=[LutPoint(filters=c, ms=round(m.ms, 5), min_ms=round(m.min_ms, 5), spread_ms=round(m.spread_ms, 5))
                for c, m in sorted(measured.items())],
        stride=settings.stride, noise_ms=round(noise, 5), step_noise_ms=round(step_noise, 5),
        step_boundaries=bounds, step_period=period,
        period_aligned=round(aligned, 3), seconds=round(time.perf_counter() - started, 2),
        reference_ms=round(reference.ms, 5) if reference is not None else None,
    )


def spec_digest(spec: ModelSpec) -> str:
    return hashlib.sha256(spec.model_dump_json().encode()).hexdigest()


def settings_record(timer: Timer, settings: SweepSettings) -> dict[str, object]:
    record: dict[str, object] = {"stride": settings.stride, "min_filters": settings.min_filters,
                                 "refine": settings.refine, **asdict(settings.rule), **asdict(timer.settings)}
    if settings.counts:
        record["counts"] = list(settings.counts)
    if settings.int8:
        record["int8"] = True
    if settings.reference:
        record["reference"] = settings.reference.name
    return record


def _start(out: Path, spec: ModelSpec, timer: Timer, settings: SweepSettings, restart: bool) -> Lut:
    record = settings_record(timer, settings)
    if out.exists() and not restart:
        lut = load_lut(out)
        for what, old, new in (("spec", lut.spec_sha256, spec_digest(spec)), ("device", lut.device, timer.device),
                               ("settings", lut.settings, record)):
            if old != new:
                raise LutError(f"{out}: was measured with another {what} ({old} != {new}); "
                               "use --restart or another --out")
        return lut
    return Lut(spec_model=spec.model, spec_sha256=spec_digest(spec), device=timer.device,
               device_name=str(timer.core.get_property(timer.device, "FULL_DEVICE_NAME")),
               openvino=ov.get_version(), precision=None, threads=None, streams=None,
               method=timer.settings.describe(), settings=record, step_period=None, complete=False,
               elapsed_s=0.0, reference=settings.reference.name if settings.reference else None)


def profile_spec(timer: Timer, spec: ModelSpec, out: Path, settings: SweepSettings,
                 budget_s: float | None = None, only: list[str] | None = None, restart: bool = False,
                 progress: Progress = _stderr) -> Lut:
    """Profile every prunable layer of `spec` (or those in `only`) into `out`, resuming what is there.

    `complete` and `missing` in the table always refer to all of the spec's profiled layers.
    """
    layers = profiled_layers(spec)
    lut = _start(Path(out), spec, timer, settings, restart)
    if settings.reference is not None and not isinstance(settings.reference.model, ov.CompiledModel):
        settings = replace(settings, reference=Reference(settings.reference.name,
                                                         timer.compile(settings.reference.model)))
    todo = [layer for layer in layers if layer.name not in lut.layers and (not only or layer.name in only)]
    base_s = lut.elapsed_s
    started, counted, spent = time.perf_counter(), 0, 0.0
    for index, layer in enumerate(todo, 1):
        cost = len(first_pass_counts(layer, settings))
        rate = spent / counted if counted else 0.0
        elapsed = time.perf_counter() - started
        if budget_s is not None and counted and elapsed + 1.3 * rate * cost > budget_s:
            progress(f"budget of {budget_s:.0f} s reached before {layer.name}; "
                     f"{len(todo) - index + 1} layer(s) left, rerun with the same --out to resume")
            break
        result = profile_layer(timer, spec, layer, settings)
        counted, spent = counted + cost, spent + result.seconds
        lut.layers[layer.name] = result
        _update(lut, layers, timer, base_s, time.perf_counter() - started)
        save_lut(lut, out)
        left = sum(len(first_pass_counts(rest, settings)) for rest in todo[index:])
        progress(f"[{index}/{len(todo)}] {layer.name} ({layer.kind} {layer.in_channels}->{layer.out_channels} "
                 f"@{layer.input_size[0]}x{layer.input_size[1]}): {len(result.points)} counts, "
                 f"period {result.step_period}, {result.seconds:.1f} s; "
                 f"elapsed {time.perf_counter() - started:.0f} s, ETA {spent / counted * left * 1.1:.0f} s")
    _update(lut, layers, timer, base_s, time.perf_counter() - started)
    save_lut(lut, out)
    return lut


def _update(lut: Lut, layers: list[LayerSpec], timer: Timer, base_s: float, run_s: float) -> None:
    if timer.runtime:
        lut.precision = timer.runtime.get("INFERENCE_PRECISION_HINT")
        lut.threads = timer.runtime.get("INFERENCE_NUM_THREADS")
        lut.streams = timer.runtime.get("NUM_STREAMS")
    lut.missing = [layer.name for layer in layers if layer.name not in lut.layers]
    lut.complete = not lut.missing
    lut.step_period = common_period([entry.step_period for entry in lut.layers.values()])
    lut.elapsed_s = round(base_s + run_s, 2)
