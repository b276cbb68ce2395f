"""Layer latency from the device's lookup table (`lut.json`, read through the agent's pydantic model).

The LUT gives, per prunable layer, the latency of the layer *and its consumers* at k kept filters, so
the saving of a removal already includes what the consumer saves. The whole model's estimate is the
measured unpruned latency less the sum of every layer's saving, less the overlap a pruned layer and
its pruned consumer would otherwise both count (`models.lut.Lut.overlap_ms`, from the model's spec);
where the LUT timed the whole model beside every row, the savings are taken as fractions of it
(`models.lut.Lut.estimate_ms`), so a machine that runs faster or slower than while profiling does not
bias the estimate. A LUT calibrated on whole models (`headcount-prune calibrate-lut`) scales the savings to
what whole networks save (`models.lut.LutCalibration`); per-layer savings and steps stay the rows' own.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from models.layer_spec import ModelSpec
from models.lut import LayerLut, Lut, load_lut
from pruning.prune.groups import PruneGroup
from pruning.prune.records import Stepless


class LutMismatch(ValueError):
    """The LUT does not describe this model; the message names the layer."""


@dataclass
class LayerLatency:
    """Latency of the model's prunable layers at any width, and their latency steps."""

    lut: Lut
    min_width: int = 8
    spec: ModelSpec | None = None
    """The model's layer spec: with it, `estimate` counts a pruned consumer's overlap once."""
    stepless: Stepless = "period"
    """Where a layer's row shows no step below its width: `period`, the next multiple of the table's step
    period (a step may be there, unseen in the noise); `rows`, the next multiple of the row's profiling
    stride (the row is smooth, so every filter buys time: cut in the steps it was measured in)."""

    @classmethod
    def load(cls, path: Path, spec: ModelSpec, min_width: int = 8,
             stepless: Stepless = "period") -> LayerLatency:
        table = cls(load_lut(path), min_width, spec, stepless)
        table.check(spec)
        return table

    def check(self, spec: ModelSpec) -> None:
        """Every prunable root of `spec` must be in the LUT with the same kind and unpruned shape."""
        for layer in spec.layers:
            if not layer.prunable or layer.kind == "depthwise" or (layer.group or layer.name) != layer.name:
                continue
            entry = self.lut.layers.get(layer.name)
            if entry is None:
                raise LutMismatch(f"layer {layer.name}: not in the LUT (measured for {self.lut.spec_model})")
            if (entry.in_channels, entry.out_channels, entry.kind) != \
                    (layer.in_channels, layer.out_channels, layer.kind):
                raise LutMismatch(
                    f"layer {layer.name}: LUT has {entry.kind} {entry.in_channels}->{entry.out_channels}, "
                    f"the model {layer.kind} {layer.in_channels}->{layer.out_channels}")

    def layer(self, name: str) -> LayerLut:
        if name not in self.lut.layers:
            raise LutMismatch(f"layer {name}: not in the LUT (measured for {self.lut.spec_model})")
        return self.lut.layers[name]

    def ms(self, name: str, width: int) -> float:
        return self.layer(name).latency_ms(width)

    @property
    def period(self) -> int:
        return self.lut.step_period or 16

    def next_step(self, name: str, width: int) -> int | None:
        """The largest width below `width` on the cheap side of a latency step, or None at the floor.

        Steps are the layer's measured boundaries that fall on the table's step period (a boundary off the
        period is usually timing noise on a busy machine); a layer with no such boundary below `width`
        goes as `stepless` says. The saving always comes from the LUT's own latencies.
        """
        entry = self.layer(name)
        below = [b for b in entry.step_boundaries if self.min_width <= b < width and b % self.period == 0]
        if below:
            target = max(below)
        elif self.stepless == "rows":
            target = (width - 1) // entry.stride * entry.stride
        else:
            target = (width - 1) // self.period * self.period
        return target if target >= self.min_width else None

    def on_step(self, name: str, width: int) -> bool:
        """Whether keeping `width` filters is on the cheap side of one of the layer's steps (a width
        `next_step` leads to)."""
        return self.next_step(name, width + 1) == width

    def saving(self, group: PruneGroup, width_after: int) -> float:
        """The LUT's saving of `group` at `width_after`; where every row was timed beside the reference
        model, on one scale (the rows' median reference), so a layer profiled while the machine ran slow
        does not look cheaper to prune than it is."""
        saving = self.ms(group.name, group.width) - self.ms(group.name, width_after)
        reference = self.layer(group.name).reference_ms
        return saving * self._reference_scale / reference if reference and self._reference_scale else saving

    @cached_property
    def _reference_scale(self) -> float | None:
        """Median of the rows' `reference_ms`; None unless every row has one."""
        refs = [layer.reference_ms for layer in self.lut.layers.values() if layer.reference_ms]
        return statistics.median(refs) if refs and len(refs) == len(self.lut.layers) else None

    def estimate(self, base_ms: float, widths: dict[str, int], original: dict[str, int]) -> float:
        """`base_ms` (measured unpruned) less every pruned layer's LUT saving (overlaps counted once), as a
        fraction of the reference model where the LUT timed one (`Lut.estimate_ms`)."""
        return self.lut.estimate_ms(base_ms, original, widths, self.spec)


def profiling_spec(spec: ModelSpec) -> ModelSpec:
    """The spec as `headcount-agent profile` times it (concat readers cloned per producer)."""
    return spec.split_concat_readers()
