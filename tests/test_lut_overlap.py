"""The LUT estimate counts a pruned layer and its pruned consumer's overlap once: exact where a conv's time is
bilinear in its channels (a hand-written spec and LUT whose rows are MACs), concat clones included."""

from __future__ import annotations

import pytest

from models.layer_spec import LayerSpec, ModelSpec
from models.lut import LayerLut, Lut, LutPoint, row_macs

UNIT = 1e-4
"""ms per multiply-accumulate of the hand LUT."""


def conv(name: str, cin: int, cout: int, consumers: list[str], prunable: bool = True, kernel: int = 1) -> LayerSpec:
    return LayerSpec(name=name, kind="pointwise" if kernel == 1 else "conv", in_channels=cin, out_channels=cout,
                     kernel=kernel, padding=kernel // 2, input_size=(4, 4), consumers=consumers, prunable=prunable)


def chain() -> ModelSpec:
    """a (8 -> 32) -> b (32 -> 32, 3x3) -> head (32 -> 4, frozen)."""
    return ModelSpec(model="chain", input_size=(4, 4), layers=[
        conv("a", 8, 32, ["b"]), conv("b", 32, 32, ["head"], kernel=3), conv("head", 32, 4, [], prunable=False)])


def concat() -> ModelSpec:
    """squeeze s feeds e1 and e3, whose concat (32 + 32) feeds n: n is cloned per producer in the LUT."""
    return ModelSpec(model="fire", input_size=(4, 4), layers=[
        conv("s", 8, 16, ["e1", "e3"]), conv("e1", 16, 32, ["n"]), conv("e3", 16, 32, ["n"], kernel=3),
        conv("n", 64, 16, [], prunable=False)])


def macs(spec: ModelSpec, widths: dict[str, int]) -> float:
    """The whole model's MACs at `widths` (what a bilinear device's time is proportional to)."""
    total = 0.0
    for layer in spec.layers:
        cin = layer.in_channels
        for producer in spec.layers:  # inputs shrink with their producers (concat: summed)
            if layer.name in producer.consumers and producer.name in widths:
                cin -= producer.out_channels - widths[producer.name]
        total += layer.kernel ** 2 * cin * widths.get(layer.name, layer.out_channels) * 16
    return total


def bilinear_lut(spec: ModelSpec) -> Lut:
    """Each prunable layer's row: its MACs and its consumers', as profile times them, x UNIT."""
    profiled = spec.split_concat_readers()
    layers = {}
    for layer in profiled.layers:
        if not layer.prunable:
            continue
        per_filter = sum(m for _, m in row_macs(profiled, layer.name))
        points = [LutPoint(filters=k, ms=UNIT * per_filter * k, min_ms=0.0, spread_ms=0.0)
                  for k in range(1, layer.out_channels + 1)]
        layers[layer.name] = LayerLut(name=layer.name, kind=layer.kind, in_channels=layer.in_channels,
                                      out_channels=layer.out_channels, consumers=layer.consumers, points=points,
                                      stride=1, noise_ms=0.0, step_noise_ms=0.0, step_boundaries=[],
                                      step_period=None, period_aligned=0.0, seconds=0.0)
    return Lut(spec_model=spec.model, spec_sha256="0" * 64, device="CPU", device_name="hand", openvino="-",
               precision=None, threads="1", streams=None, method="hand", settings={}, step_period=None,
               complete=True, elapsed_s=0.0, layers=layers)


@pytest.mark.parametrize(("spec", "widths", "overlap"), [
    (chain(), {"a": 16, "b": 32}, False),
    (chain(), {"a": 16, "b": 8}, True),
    (chain(), {"a": 32, "b": 20}, False),
    (concat(), {"s": 8, "e1": 16, "e3": 24}, True),
    (concat(), {"s": 16, "e1": 8, "e3": 32}, False),
])
def test_saving_with_the_spec_equals_the_true_saving(spec: ModelSpec, widths: dict[str, int], overlap: bool) -> None:
    lut = bilinear_lut(spec)
    original = {name: lut.layers[name].out_channels for name in lut.layers}
    widths = {**original, **widths}
    truth = UNIT * (macs(spec, original) - macs(spec, widths))
    assert lut.saving_ms(original, widths, spec) == pytest.approx(truth)
    plain = lut.saving_ms(original, widths)  # without the spec: the overlap counted twice
    assert plain > truth * 1.01 if overlap else plain == pytest.approx(truth)


def test_row_parts_follow_depthwise_consumers() -> None:
    spec = ModelSpec(model="mb", input_size=(4, 4), layers=[
        conv("expand", 8, 32, ["dw"]),
        LayerSpec(name="dw", kind="depthwise", in_channels=32, out_channels=32, kernel=3, padding=1, groups=32,
                  input_size=(4, 4), consumers=["project"]),
        conv("project", 32, 16, [])])
    assert row_macs(spec, "expand") == [("expand", 8 * 16), ("dw", 9 * 16), ("project", 16 * 16)]


def with_reference(lut: Lut, reference_ms: float, scale: float = 1.0) -> Lut:
    """`lut` with every row and its reference as a machine `scale` times slower would have timed them."""
    layers = {name: layer.model_copy(update={
        "points": [p.model_copy(update={"ms": p.ms * scale}) for p in layer.points],
        "reference_ms": reference_ms * scale}) for name, layer in lut.layers.items()}
    return lut.model_copy(update={"layers": layers})


@pytest.mark.parametrize("scale", [0.5, 1.0, 1.7])
@pytest.mark.parametrize(("spec", "widths"), [(chain(), {"a": 16, "b": 8}), (concat(), {"s": 8, "e1": 16, "e3": 24})])
def test_estimate_is_a_fraction_of_the_reference_whatever_the_machine_speed(
        spec: ModelSpec, widths: dict[str, int], scale: float) -> None:
    """Rows timed beside the whole model: the estimate is the parent as measured now x (1 - saved fraction),
    the same whether the profile ran on a faster or a slower machine than the parent's measurement."""
    base = bilinear_lut(spec)
    original = {name: base.layers[name].out_channels for name in base.layers}
    widths = {**original, **widths}
    whole = UNIT * macs(spec, original)
    lut = with_reference(base, whole, scale)
    truth = 1 - macs(spec, widths) / macs(spec, original)
    assert lut.saved_fraction(original, widths, spec) == pytest.approx(truth)
    assert lut.estimate_ms(3.0, original, widths, spec) == pytest.approx(3.0 * (1 - truth))
    # without references the estimate is the parent minus the profile's own ms: off by the machine's scale
    absolute = with_reference(base, whole, scale)
    absolute.layers[next(iter(widths))].reference_ms = None
    assert absolute.saved_fraction(original, widths, spec) is None
    assert absolute.estimate_ms(3.0, original, widths, spec) == pytest.approx(
        3.0 - scale * UNIT * (macs(spec, original) - macs(spec, widths)))
