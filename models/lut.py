"""The latency lookup table `headcount-agent profile` writes and the pruner reads (`lut.json`).

Written atomically after every layer, so an interrupted or budget-limited run leaves a valid partial
table that a second run with the same spec, device and settings resumes.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, model_validator

from models.base import StrictModel
from models.layer_spec import LayerSpec, ModelSpec

LUT_SCHEMA_VERSION = 3
"""1: rows, steps and a reference; 2 added `calibration`; 3 its `shape` and points measured on pruned
variants. A file is written with the version of the code that wrote it, so an older checkout names the
version it cannot read instead of an unknown field."""


class LutPoint(StrictModel):
    filters: int = Field(gt=0, description="Kept filters (output channels) of the layer.")
    ms: float = Field(description="Latency of the layer and its consumers: lower quartile of per-round minima.")
    min_ms: float = Field(description="Fastest single run at this count.")
    spread_ms: float = Field(ge=0, description="Lower quartile minus minimum of the per-round minima.")


class LayerLut(StrictModel):
    name: str = Field(description="Layer name from the spec.")
    kind: str = Field(description="conv, depthwise or pointwise.")
    in_channels: int
    out_channels: int = Field(description="Filters of the unpruned layer (the largest count).")
    consumers: list[str] = Field(description="Layers timed with it (shrunk with it).")
    points: list[LutPoint] = Field(description="Measured counts, ascending; interpolate between them.")
    stride: int = Field(description="Spacing of the first pass; refined to single counts around changes.")
    noise_ms: float = Field(description="Median over counts of `spread_ms`: the timing noise at one count.")
    step_noise_ms: float = Field(
        description="Scatter (sd) of the changes between neighbouring measured counts off the steps. A step is "
        "a rise of more than k (settings) times this, plus twice the smooth slope over the gap, plus "
        "`relative` of the latency."
    )
    step_boundaries: list[int] = Field(
        description="Counts c where latency steps up from c to c + 1 (keeping c filters is on the cheap side)."
    )
    step_period: int | None = Field(description="Most common spacing of the boundaries; None when none found.")
    period_aligned: float = Field(description="Fraction of boundaries that are multiples of `step_period`.")
    seconds: float = Field(description="Wall time spent on this layer.")
    reference_ms: float | None = Field(
        default=None,
        description="The whole unpruned model (the LUT's `reference`), timed in the same rounds as this layer's "
        "counts: the scale of this row. None in tables profiled from a spec alone.")

    def latency_ms(self, filters: int) -> float:
        """Latency at any count: measured, or linear between the nearest measured neighbours."""
        pts = self.points
        if filters <= pts[0].filters:
            return pts[0].ms
        for lo, hi in zip(pts, pts[1:], strict=False):
            if lo.filters <= filters <= hi.filters:
                frac = (filters - lo.filters) / (hi.filters - lo.filters)
                return lo.ms + frac * (hi.ms - lo.ms)
        return pts[-1].ms


MAX_SAVED_FRACTION = 0.95
"""A calibrated estimate never says a variant saves more of its parent than this."""
UNIFORM_METHOD = "uniform"
"""The provenance method of a calibration cut in the store (`headcount-prune calibrate-lut --store`): every
prunable layer keeps the same fraction of its filters, not fine-tuned, timed only to calibrate the LUT."""
SCALE_RANGE = (0.5, 2.0)
"""A calibration whose scale falls outside this more likely measured noise than the network
(`headcount-prune calibrate-lut` warns); one at or below 0 is refused."""


class CalibrationPoint(StrictModel):
    keep: float | None = Field(
        default=None, gt=0, lt=1,
        description="Fraction of every prunable layer's filters a uniform cut kept; None for a pruned variant.")
    variant: str | None = Field(
        default=None, description="The pruned variant (NAME@VERSION) the point was measured on; None for a cut.")
    lut_fraction: float = Field(
        ge=0, lt=1, description="What the rows say the variant saves (`Lut.saved_fraction`, overlaps once).")
    measured_fraction: float = Field(
        gt=-1, lt=1, description="What it saved: median over rounds of 1 - variant / parent, the two timed in turns.")

    @model_validator(mode="after")
    def _cut_or_variant(self) -> CalibrationPoint:
        if (self.keep is None) == (self.variant is None):
            raise ValueError("a calibration point is a uniform cut (keep) or a pruned variant (variant), one of them")
        return self


class LutCalibration(StrictModel):
    """Whole models against the rows: uniformly pruned variants of the parent timed in turns with it
    (`headcount-prune calibrate-lut`, or benched with the variants), or pruned variants benched together
    (`headcount-prune report`). A row times one layer with its consumers; a whole model also saves in what
    no row holds (concats, layout conversions, caches that the smaller activations fit), and a pruned
    network saves a share of its rows that grows with how much it was cut; measured in docs/pruning.md."""

    parent: str = Field(description="The checkpoint or stored model (NAME@VERSION) the variants derive from.")
    points: list[CalibrationPoint] = Field(min_length=1, description="One per measured variant, deepest last.")
    shape: Literal["scale", "linear"] = Field(
        default="scale", description="How the points correct the rows' saved fraction f: 'scale', f x `scale` (one "
        "factor: uniform cuts); 'linear', f x (a + b f) with a + b f the least-squares line of measured / rows "
        "over f, f held within the points' range (pruned variants, whose ratio grows with f).")
    rounds: int = Field(ge=1, description="Rounds of turns; each point is the median over them.")
    runs: int = Field(ge=1, description="Timed inferences per model per round.")
    threads: int | None = Field(description="Threads the IRs were compiled with (the LUT's).")
    created: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))

    @model_validator(mode="after")
    def _positive_scale(self) -> LutCalibration:
        if self.scale <= 0:
            raise ValueError(f"the points give a scale of {self.scale:.3f}: pruned models that saved nothing are "
                             "noise; re-run calibrate-lut on a quieter machine or with more --rounds")
        if self.shape == "linear":
            if len({p.lut_fraction for p in self.points if p.lut_fraction > 0}) < 2:
                raise ValueError("a linear calibration needs points at two rows' fractions or more")
            low, high = self._range()
            if min(self.factor(low), self.factor(high)) <= 0:
                raise ValueError("the points' line falls to 0 or below within their range: noise, not the network")
        return self

    @property
    def plausible(self) -> bool:
        """Whether the scale is within `SCALE_RANGE`."""
        return SCALE_RANGE[0] <= self.scale <= SCALE_RANGE[1]

    @property
    def scale(self) -> float:
        """Least squares through the origin of measured on LUT fraction: what the whole model saves per
        unit of saving the rows count."""
        den = sum(p.lut_fraction ** 2 for p in self.points)
        return sum(p.lut_fraction * p.measured_fraction for p in self.points) / den if den else 1.0

    def _range(self) -> tuple[float, float]:
        fractions = [p.lut_fraction for p in self.points if p.lut_fraction > 0]
        return min(fractions), max(fractions)

    def _line(self) -> tuple[float, float]:
        """Intercept and slope of the least-squares line of measured / rows fraction over the rows' fraction."""
        pts = [(p.lut_fraction, p.measured_fraction / p.lut_fraction) for p in self.points if p.lut_fraction > 0]
        mean_x, mean_y = sum(x for x, _ in pts) / len(pts), sum(y for _, y in pts) / len(pts)
        slope = sum((x - mean_x) * (y - mean_y) for x, y in pts) / sum((x - mean_x) ** 2 for x, _ in pts)
        return mean_y - slope * mean_x, slope

    def factor(self, fraction: float) -> float:
        """What the whole model saves per unit of the rows' saving, for a variant the rows say saves `fraction`."""
        if self.shape == "scale":
            return self.scale
        low, high = self._range()
        intercept, slope = self._line()
        return intercept + slope * min(max(fraction, low), high)

    def describe(self) -> str:
        """The correction in words: `x 1.092`, or `x (0.712 + 0.514 f), f held within 0.17-0.70`."""
        if self.shape == "scale":
            return f"x {self.scale:.3f}"
        intercept, slope = self._line()
        low, high = self._range()
        sign = "+" if slope >= 0 else "-"
        return f"x ({intercept:.3f} {sign} {abs(slope):.3f} f), f held within {low:.2f}-{high:.2f}"

    def apply(self, fraction: float) -> float:
        """The saved fraction the rows say, as the whole model saves it."""
        return min(fraction * self.factor(fraction), MAX_SAVED_FRACTION)


class Lut(StrictModel):
    schema_version: int = Field(default=LUT_SCHEMA_VERSION, ge=1, le=LUT_SCHEMA_VERSION,
                                description="Version of the format the file was written in (`LUT_SCHEMA_VERSION`).")
    spec_model: str = Field(description="`model` field of the spec the table was measured for.")
    spec_sha256: str = Field(description="SHA-256 of the spec's canonical JSON; resuming requires a match.")
    device: str = Field(description="OpenVINO device name.")
    device_name: str = Field(description="FULL_DEVICE_NAME as the runtime reports it.")
    openvino: str = Field(description="OpenVINO version.")
    precision: str | None = Field(description="INFERENCE_PRECISION_HINT the compiled models report.")
    threads: str | None = Field(description="INFERENCE_NUM_THREADS the compiled models report.")
    streams: str | None = Field(description="NUM_STREAMS the compiled models report.")
    method: str = Field(description="How each count was timed.")
    settings: dict[str, object] = Field(description="Sweep and timing settings; resuming requires a match.")
    step_period: int | None = Field(description="The step period most layers agree on.")
    complete: bool = Field(description="False while layers of the spec are still missing (resume).")
    missing: list[str] = Field(default_factory=list, description="Profiled layers not measured yet.")
    elapsed_s: float = Field(description="Wall time of all runs that built this table.")
    created: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))
    layers: dict[str, LayerLut] = Field(default_factory=dict)
    reference: str | None = Field(
        default=None, description="The whole model timed beside every layer (NAME@VERSION or IR path), if any.")
    calibration: LutCalibration | None = Field(
        default=None, description="Whole uniformly pruned models against the rows (`headcount-prune calibrate-lut`); "
        "`estimate_ms` scales the rows' savings by it. None: the rows' savings as they are.")

    @property
    def thread_count(self) -> int | None:
        """`threads` as a number (None where the device did not report one)."""
        return int(self.threads) if self.threads and self.threads.isdigit() else None

    def saving_ms(self, original: dict[str, int], widths: dict[str, int], spec: ModelSpec | None = None) -> float:
        """ms the table says a model saves at `widths` against `original` (its unpruned widths).

        The sum of every pruned layer's saving with its consumers; a consumer that is itself pruned was timed
        at its full width, so where both shrink that sum counts their overlap twice. With the model's
        `spec`, the overlap (`overlap_ms`) is taken off once, so every layer's own share counts once."""
        return sum(self.row_savings_ms(original, widths, spec).values())

    def row_savings_ms(self, original: dict[str, int], widths: dict[str, int], spec: ModelSpec | None = None
                       ) -> dict[str, float]:
        """`saving_ms` per pruned layer's row (each overlap taken off the producer's row)."""
        savings = {name: layer.latency_ms(original[name]) - layer.latency_ms(widths[name])
                   for name, layer in self.layers.items()
                   if name in original and name in widths and widths[name] != original[name]}
        if spec is not None:
            for name, overlap in self._overlaps_ms(original, widths, spec).items():
                savings[name] -= overlap
        return savings

    def saved_fraction(self, original: dict[str, int], widths: dict[str, int], spec: ModelSpec | None = None
                       ) -> float | None:
        """The fraction of the whole model's latency the table says `widths` saves: every row's saving over
        the reference timed in the same rounds. None unless every pruned layer's row has its reference.

        A fraction does not depend on how fast the machine ran while profiling, nor on how fast it runs the
        model now: a busy shared VM scales rows and model alike, so the estimate follows the parent as
        measured, where an absolute saving in the profile's ms would not."""
        fraction = 0.0
        for name, saving in self.row_savings_ms(original, widths, spec).items():
            reference = self.layers[name].reference_ms
            if not reference:
                return None
            fraction += saving / reference
        return fraction

    def estimate_ms(self, parent_ms: float, original: dict[str, int], widths: dict[str, int],
                    spec: ModelSpec | None = None) -> float:
        """A variant's latency from its parent's measured `parent_ms`: `parent_ms` x (1 - `saved_fraction`)
        where the rows have their reference, else `parent_ms` minus `saving_ms` (the profile's ms); with a
        `calibration`, the saving is the whole model's (`LutCalibration.apply`)."""
        fraction = self.saved_fraction(original, widths, spec)
        if fraction is None:
            saving = self.saving_ms(original, widths, spec)
            if self.calibration is None:
                return parent_ms - saving
            return max(parent_ms - saving * self.calibration.scale, parent_ms * (1 - MAX_SAVED_FRACTION))
        return parent_ms * (1 - (self.calibration.apply(fraction) if self.calibration else fraction))

    def overlap_ms(self, original: dict[str, int], widths: dict[str, int], spec: ModelSpec) -> float:
        """What the plain sum of savings counts twice: for a pruned layer L (K -> k filters) and a pruned
        consumer C (M -> m filters), both rows save C's cross term (K - k) x (M - m).

        C's share of L's row saving is apportioned by multiply-accumulates (the row's parts as
        `headcount-agent profile` builds them, from `spec`); C at m filters saves the fraction 1 - m/M
        of it, which C's own row has counted already. Exact where a conv's time is bilinear in its input
        and output channels; the LUT alone cannot split a row, since profile times a layer only with its
        consumers."""
        return sum(self._overlaps_ms(original, widths, spec).values())

    def _overlaps_ms(self, original: dict[str, int], widths: dict[str, int], spec: ModelSpec) -> dict[str, float]:
        """`overlap_ms` per producer row L."""
        spec = spec.split_concat_readers()  # the names the LUT's rows were timed under
        overlaps: dict[str, float] = {}
        for name, layer in self.layers.items():
            if name not in original or widths.get(name, original[name]) == original[name]:
                continue
            saving = layer.latency_ms(original[name]) - layer.latency_ms(widths[name])
            parts = row_macs(spec, name)
            whole = sum(macs for _, macs in parts)
            for part, macs in parts[1:]:
                root = part.split("@", 1)[0]  # a concat reader's clone is `<consumer>@<producer>`
                if root in original and widths.get(root, original[root]) != original[root]:
                    shared = saving * macs / whole * (1 - widths[root] / original[root])
                    overlaps[name] = overlaps.get(name, 0.0) + shared
        return overlaps


def _output_area(layer: LayerSpec) -> int:
    height, width = ((size + 2 * layer.padding - layer.kernel) // layer.stride + 1 for size in layer.input_size)
    return height * width


def row_macs(spec: ModelSpec, name: str) -> list[tuple[str, float]]:
    """Multiply-accumulates per filter of `name` in each part of its LUT row: the layer first, then every
    consumer as profile times it (a depthwise consumer loses the filter too and passes it on to its own
    consumers; a dense one loses an input channel). Every part is linear in the layer's filters."""
    layer = spec.layer(name)
    parts = [(name, layer.kernel ** 2 * layer.in_channels / layer.groups * _output_area(layer))]
    pending = list(layer.consumers)
    while pending:
        if len(parts) > len(spec.layers):
            raise ValueError(f"layer {name}: its consumers loop back (a cycle in `consumers`)")
        reader = spec.layer(pending.pop(0))
        if reader.kind == "depthwise":
            parts.append((reader.name, reader.kernel ** 2 * _output_area(reader)))
            pending.extend(reader.consumers)
        else:
            parts.append((reader.name, reader.kernel ** 2 * reader.out_channels * _output_area(reader)))
    return parts


class LutError(ValueError):
    """A LUT file cannot be used; the message names the file and the problem."""


def save_lut(lut: Lut, path: Path) -> None:
    """Write via a temporary file and rename, so readers never see half a table."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    current = lut.model_copy(update={"schema_version": LUT_SCHEMA_VERSION})
    tmp.write_text(current.model_dump_json() + "\n")  # compact: a full SSD table holds thousands of points
    os.replace(tmp, path)


def load_lut(path: Path) -> Lut:
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise LutError(f"{path}: cannot read ({exc})") from exc
    version = _schema_version(text)
    if version is not None and version > LUT_SCHEMA_VERSION:
        raise LutError(f"{path}: LUT format version {version}, newer than this checkout reads "
                       f"(up to {LUT_SCHEMA_VERSION}); update headcount to use it")
    try:
        return Lut.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise LutError(f"{path}: not a LUT ({where}: {first['msg']})") from exc


def _schema_version(text: str) -> int | None:
    """The file's `schema_version`, read before the rest (whose fields a newer version may have changed)."""
    try:
        version = json.loads(text).get("schema_version")
    except (ValueError, AttributeError):
        return None  # not JSON, or not an object: validation names the problem
    return version if isinstance(version, int) else None
