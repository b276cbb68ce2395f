"""Robust latency of small models on one device: pinned threads, warm-up, interleaved rounds, minima.

Compiling, inputs and single inferences are `agent.timing`'s; this module adds the profiler's statistic.

Each round runs every model `reps` times in a freshly shuffled order and keeps each model's fastest
run. Noise on a shared machine only ever adds time, and on a busy 2-core VM whole rounds can be slowed
(a neighbour on our core), so a model's latency is the lower quartile of its per-round minima, and its
noise the spread of the undisturbed part: lower quartile minus minimum. Interleaving and shuffling
spread slow drift (thermal, a neighbour's load) over all counts instead of letting it fake a step.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import numpy as np
import openvino as ov

from agent.timing import compile_config, infer_seconds, prepared_request, reported


@dataclass(frozen=True)
class TimingSettings:
    """How each model is timed. `threads` applies where the device has the property (CPU).

    A LUT pins its thread count (see the thread-count policy in `agent.timing`): 1 unless asked.
    """

    warmup: int = 3
    rounds: int = 7
    reps: int = 10
    threads: int = 1
    streams: int = 1
    precision: str | None = None
    """INFERENCE_PRECISION_HINT to force (e.g. 'f32'); None keeps the device's default, as deployed."""

    def describe(self) -> str:
        return (f"{self.warmup} warm-up runs, then {self.rounds} interleaved rounds in shuffled order of "
                f"{self.reps} runs per model; latency = lower quartile of per-round minima, "
                f"spread = lower quartile - minimum")


@dataclass
class Measurement:
    """Per-round minima (seconds) of one model; rounds from several batches are pooled."""

    minima: list[float] = field(default_factory=list)

    @property
    def ms(self) -> float:
        return float(np.percentile(self.minima, 25)) * 1e3

    @property
    def min_ms(self) -> float:
        return min(self.minima) * 1e3

    @property
    def spread_ms(self) -> float:
        return float(np.percentile(self.minima, 25) - min(self.minima)) * 1e3


class Timer:
    """Compiles and times models for one device with fixed settings."""

    def __init__(self, core: ov.Core, device: str, settings: TimingSettings, seed: int = 0) -> None:
        self.core = core
        self.device = device
        self.settings = settings
        self.config = compile_config(core, device, settings.threads, settings.streams, settings.precision)
        self.rng = random.Random(seed)
        self.runtime: dict[str, str | None] = {}

    def compile(self, model: ov.Model) -> ov.CompiledModel:
        compiled = self.core.compile_model(model, self.device, self.config)
        if not self.runtime:
            self.runtime = {key: reported(compiled, key) for key in
                            ("INFERENCE_PRECISION_HINT", "INFERENCE_NUM_THREADS", "NUM_STREAMS")}
        return compiled

    def measure(self, models: dict[int, ov.Model | ov.CompiledModel]) -> dict[int, Measurement]:
        """Compile all models (those not compiled yet), warm them up, then time them in interleaved shuffled
        rounds."""
        requests = {key: prepared_request(model if isinstance(model, ov.CompiledModel) else self.compile(model))
                    for key, model in models.items()}
        for request in requests.values():
            for _ in range(self.settings.warmup):
                request.infer()
        results = {key: Measurement() for key in models}
        keys = list(models)
        for _ in range(self.settings.rounds):
            self.rng.shuffle(keys)
            for key in keys:
                results[key].minima.append(self._fastest(requests[key]))
        return results

    def _fastest(self, request: ov.InferRequest) -> float:
        return min(infer_seconds(request) for _ in range(self.settings.reps))
