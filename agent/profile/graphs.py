"""Small OpenVINO models of one prunable layer and its consumers at a given number of kept filters.

Removing filters from a layer also shrinks what reads its output: a depthwise consumer loses the same
channels (and passes the loss on to its own consumers), a dense consumer loses input channels. So the
model timed for `kept` filters is the layer with `kept` filters followed by every consumer, shrunk
accordingly. A consumer whose input size differs from the layer's output (a pooling in between) gets
its own input of the right size. Weights are random: latency does not depend on their values.

With `int8`, every convolution reads its input and weights through FakeQuantize (u8 activations, i8
weights), the pattern of NNCF's INT8 IRs, so the CPU plugin runs its int8 kernels, as for a quantized
variant (`headcount-prune quantize`).
"""

from __future__ import annotations

import numpy as np
import openvino as ov
import openvino.opset13 as ops

from agent.profile.spec_io import SpecError, output_size
from models.layer_spec import LayerSpec, ModelSpec


def _fake_quantize(x: ov.Output, low: float, high: float, levels: int) -> ov.Output:
    lo, hi = ops.constant(np.float32(low)), ops.constant(np.float32(high))
    return ops.fake_quantize(x, lo, hi, lo, hi, levels).output(0)


def _conv(x: ov.Output, layer: LayerSpec, cin: int, cout: int, rng: np.random.Generator,
          int8: bool = False) -> ov.Output:
    k, s, p = layer.kernel, layer.stride, layer.padding
    if layer.kind != "depthwise" and layer.groups != 1:
        raise SpecError(f"layer {layer.name}: grouped (non-depthwise) convolutions are not supported")
    shape = (cin, 1, 1, k, k) if layer.kind == "depthwise" else (cout, cin, k, k)
    weights: ov.Output = ops.constant((rng.standard_normal(shape) * 0.05).astype(np.float32)).output(0)
    if int8:
        x, weights = _fake_quantize(x, 0.0, 6.0, 256), _fake_quantize(weights, -0.2, 0.2, 255)
    if layer.kind == "depthwise":
        return ops.group_convolution(x, weights, [s, s], [p, p], [p, p], [1, 1]).output(0)
    return ops.convolution(x, weights, [s, s], [p, p], [p, p], [1, 1]).output(0)


def _activated(x: ov.Output) -> ov.Output:
    """ReLU6, as MobileNet uses it; oneDNN fuses it into the convolution like the deployed model."""
    return ops.clamp(x, 0.0, 6.0).output(0)


class _Builder:
    def __init__(self, spec: ModelSpec, seed: int, int8: bool) -> None:
        self.spec = spec
        self.int8 = int8
        self.rng = np.random.default_rng(seed)
        self.params: list[ov.Node] = []
        self.outputs: list[ov.Output] = []

    def parameter(self, channels: int, size: tuple[int, int]) -> ov.Output:
        param = ops.parameter([1, channels, *size], ov.Type.f32, name=f"input{len(self.params)}")
        self.params.append(param)
        return param.output(0)

    def consumer(self, name: str, removed: int, source: ov.Output, size: tuple[int, int], depth: int) -> None:
        if depth > 8:
            raise SpecError(f"layer {name}: consumer chain too deep (a cycle in `consumers`?)")
        layer = self.spec.layer(name)
        cin = layer.in_channels - removed
        if tuple(layer.input_size) != tuple(size):
            source = self.parameter(cin, tuple(layer.input_size))
        if layer.kind == "depthwise":
            out = _activated(_conv(source, layer, cin, cin, self.rng, self.int8))
            for nxt in layer.consumers:
                self.consumer(nxt, removed, out, output_size(layer), depth + 1)
            if not layer.consumers:
                self.outputs.append(out)
            return
        self.outputs.append(_conv(source, layer, cin, layer.out_channels, self.rng, self.int8))


def build_layer_model(spec: ModelSpec, layer: LayerSpec, kept: int, seed: int = 0, int8: bool = False
                      ) -> ov.Model:
    """The layer with `kept` filters and its consumers, as one model with static shapes (batch 1, NCHW)."""
    if not 1 <= kept <= layer.out_channels:
        raise ValueError(f"layer {layer.name}: kept filters {kept} outside 1..{layer.out_channels}")
    builder = _Builder(spec, seed, int8)
    removed = layer.out_channels - kept
    cin = kept if layer.kind == "depthwise" else layer.in_channels
    x = builder.parameter(cin, tuple(layer.input_size))
    y = _activated(_conv(x, layer, cin, kept, builder.rng, int8))
    for name in layer.consumers:
        builder.consumer(name, removed, y, output_size(layer), 0)
    if not layer.consumers:
        builder.outputs.append(y)
    return ov.Model(builder.outputs, builder.params, f"{layer.name}@{kept}")


def conv_pair_spec(cin: int = 128, filters: int = 72, cout: int = 64, size: int = 38, kernel: int = 3) -> ModelSpec:
    """A synthetic dense conv `cin -> filters` feeding a conv `filters -> cout` (the reference measurement)."""
    pad = kernel // 2
    first = LayerSpec(name="conv", kind="conv", in_channels=cin, out_channels=filters, kernel=kernel,
                      padding=pad, input_size=(size, size), consumers=["next"])
    second = LayerSpec(name="next", kind="conv", in_channels=filters, out_channels=cout, kernel=kernel,
                       padding=pad, input_size=(size, size), prunable=False)
    return ModelSpec(model=f"conv-pair-{cin}-{filters}-{cout}-{size}x{size}", input_size=(size, size),
                     layers=[first, second])
