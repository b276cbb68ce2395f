"""FLOPs (2 x multiply-accumulates of convolutions and linear layers) and parameter counts."""

from __future__ import annotations

import torch
from torch import nn


def count_flops(model: nn.Module, input_size: tuple[int, int]) -> int:
    """FLOPs of one forward pass on a 1x3xHxW input (BatchNorm, activations and adds not counted)."""
    total = 0

    def conv_hook(module: nn.Conv2d, _inp: tuple, out: torch.Tensor) -> None:
        nonlocal total
        kh, kw = module.kernel_size
        total += 2 * out.numel() * (module.in_channels // module.groups) * kh * kw

    def linear_hook(module: nn.Linear, _inp: tuple, out: torch.Tensor) -> None:
        nonlocal total
        total += 2 * out.numel() * module.in_features

    handles = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, 3, *input_size))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return total


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def ir_flops_and_params(xml: str) -> tuple[int, int]:
    """FLOPs of the convolutions and MatMuls of an IR, and its floating-point constant count.

    Used for models we only have as IR (the teacher). The constant count includes non-weight constants
    (e.g. anchors), so it slightly exceeds the trained parameters.
    """
    import numpy as np
    import openvino as ov

    model = ov.Core().read_model(xml)
    flops = params = 0
    for op in model.get_ordered_ops():
        kind = op.get_type_name()
        if kind == "Constant" and op.get_output_element_type(0).is_real():
            params += int(np.prod(list(op.get_output_shape(0)), dtype=np.int64))
        if kind not in ("Convolution", "GroupConvolution", "MatMul") or op.get_output_partial_shape(0).is_dynamic:
            continue
        out = int(np.prod(list(op.get_output_shape(0)), dtype=np.int64))
        weights = list(op.input(1).get_partial_shape().to_shape()) if op.input(1).get_partial_shape().is_static \
            else []
        if kind == "Convolution":
            flops += 2 * out * int(np.prod(weights[1:]))
        elif kind == "GroupConvolution":
            flops += 2 * out * int(np.prod(weights[2:]))
        elif weights:
            flops += 2 * out * weights[-2 if not op.get_attributes().get("transpose_b") else -1]
    return flops, params
