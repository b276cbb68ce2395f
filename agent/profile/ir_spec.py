"""A prunable-layer spec read from an OpenVINO IR, for models whose pruning side exported none.

Every Convolution and GroupConvolution becomes a layer. Its consumers are the convolutions reached from
its output through ops that keep channels apart (bias adds, activations, per-channel scales, converts).
A layer is prunable only if every path from its output ends in such consumers, depthwise ones passing
the check on to their own outputs; a residual add, a concat or a reshape into a head's output ties its
channels, so it is marked not prunable. Names are the IR's op names, numbered in topological order.
"""

from __future__ import annotations

from pathlib import Path

import openvino as ov

from agent.profile.spec_io import SpecError, check_spec
from models.layer_spec import LayerSpec, ModelSpec

CONVS = {"Convolution", "GroupConvolution"}
CHANNELWISE = {"Clamp", "Relu", "PRelu", "Swish", "HSwish", "Sigmoid", "Convert", "FakeQuantize"}


def _is_constant(output: ov.Output) -> bool:
    node = output.get_node()
    while node.get_type_name() == "Convert":
        node = node.input(0).get_source_output().get_node()
    return node.get_type_name() == "Constant"


def _passes_through(node: ov.Node) -> bool:
    """Whether `node` keeps channels apart (so its readers read the producer's channels one to one)."""
    kind = node.get_type_name()
    if kind in CHANNELWISE:
        return True
    if kind in {"Add", "Multiply", "Subtract"}:
        return sum(not _is_constant(node.input(i).get_source_output()) for i in range(node.get_input_size())) == 1
    return False


def _readers(node: ov.Node) -> tuple[list[ov.Node], bool]:
    """Convolutions reading `node`'s channels, and whether every path ends in one."""
    found, free, stack = [], True, [node]
    while stack:
        for target in stack.pop().output(0).get_target_inputs():
            reader = target.get_node()
            if reader.get_type_name() in CONVS and target.get_index() == 0:
                found.append(reader)
            elif _passes_through(reader):
                stack.append(reader)
            else:
                free = False
    return found, free


def _kind(op: ov.Node, weights: list[int], cin: int) -> tuple[str, int, int, int]:
    """(kind, out channels, kernel, groups) of a convolution from its weights' shape."""
    if op.get_type_name() == "GroupConvolution":
        groups, per_group = weights[0], weights[1]
        if groups == cin and per_group == 1:
            return "depthwise", cin, weights[-1], groups
        raise SpecError(f"{op.get_friendly_name()}: grouped convolution that is not depthwise is not supported")
    return ("pointwise" if weights[-1] == 1 else "conv"), weights[0], weights[-1], 1


def spec_from_ir(xml: Path | str, name: str | None = None) -> ModelSpec:
    model = ov.Core().read_model(str(xml))
    ops = [op for op in model.get_ordered_ops() if op.get_type_name() in CONVS]
    names = {op.get_friendly_name(): f"{i:02d}:{op.get_friendly_name()}" for i, op in enumerate(ops)}
    producer: dict[str, str] = {}
    layers = []
    for op in ops:
        shape = op.get_input_partial_shape(0)
        if shape.is_dynamic:
            raise SpecError(f"{xml}: {op.get_friendly_name()} has a dynamic input shape {shape}")
        _, cin, h, w = (int(d) for d in shape.to_shape())
        kind, cout, kernel, groups = _kind(op, list(op.get_input_shape(1)), cin)
        attrs = op.get_attributes()
        readers, free = _readers(op)
        me = names[op.get_friendly_name()]
        consumers = [names[r.get_friendly_name()] for r in readers]
        for reader in readers:
            producer.setdefault(names[reader.get_friendly_name()], me)
        layers.append(dict(
            name=me, kind=kind, in_channels=cin, out_channels=cout, kernel=kernel, stride=int(attrs["strides"][0]),
            padding=int(max(attrs["pads_begin"][0], attrs["pads_end"][0])), groups=groups, input_size=(h, w),
            consumers=consumers, prunable=free and bool(consumers)))
    for layer in layers:  # a depthwise conv follows its producer; the producer is free only if it is too
        if layer["kind"] == "depthwise":
            layer["group"] = producer.get(layer["name"])
    by_name = {layer["name"]: layer for layer in layers}
    for layer in layers:
        layer["prunable"] = layer["prunable"] and all(
            by_name[c]["prunable"] for c in layer["consumers"] if by_name[c]["kind"] == "depthwise")
    spec = ModelSpec(model=name or str(xml), input_size=layers[0]["input_size"] if layers else (0, 0),
                     layers=[LayerSpec(**layer) for layer in layers])
    check_spec(spec, str(xml))
    return spec
