"""PyTorch SSD -> OpenVINO IR with the post-processing inside, as OpenVINO's `DetectionOutput` op.

The converted graph (BatchNorm folded) yields box offsets [1, P*4] and class probabilities [1, P*C];
`DetectionOutput` (opset8) decodes them against the anchors, stored as a constant `proposals` input
[1, 2, P*4] (corners, then variances), and runs per-class NMS, so the IR outputs [1, 1, N, 7] rows of
(image_id, label, confidence, x1, y1, x2, y2), normalised, like Open Model Zoo SSDs. Weights are FP16.
The input is f32 NCHW RGB; the manifest declares mean 127.5 and scale 0.007843, which the agent applies.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import torch
from torch import nn

from pruning.ssd.anchors import center_to_corners
from pruning.ssd.box_coding import VARIANCES
from pruning.ssd.layers import fuse_all
from pruning.ssd.postprocess import PostprocessConfig
from pruning.ssd.ssd import SSD

INPUT_NAME = "image"
OUTPUT_NAME = "detection_out"


class _RawHeads(nn.Module):
    """The network part that becomes the IR's body: flattened offsets and softmax probabilities."""

    def __init__(self, model: SSD) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        loc, conf = self.model(x)
        return loc.reshape(x.shape[0], -1), conf.softmax(dim=-1).reshape(x.shape[0], -1)


def proposals(anchors: torch.Tensor) -> np.ndarray:
    """The DetectionOutput `proposals` constant [1, 2, P*4]: prior corners, then their variances."""
    corners = center_to_corners(anchors).reshape(-1).numpy()
    variances = np.tile(np.array([VARIANCES[0], VARIANCES[0], VARIANCES[1], VARIANCES[1]], np.float32),
                        anchors.shape[0])
    return np.stack([corners, variances])[None].astype(np.float32)


def detection_output_attrs(num_classes: int, config: PostprocessConfig) -> dict:
    return {
        "num_classes": num_classes, "background_label_id": 0, "top_k": config.top_k,
        "keep_top_k": [config.keep_top_k], "nms_threshold": config.nms_threshold,
        "confidence_threshold": config.confidence_threshold, "code_type": "caffe.PriorBoxParameter.CENTER_SIZE",
        "share_location": True, "variance_encoded_in_target": False, "normalized": True,
    }


def to_openvino(model: SSD, config: PostprocessConfig | None = None) -> "object":
    """An `openvino.Model` with DetectionOutput appended; the torch model is left untouched."""
    import openvino as ov
    import openvino.opset8 as ops

    config = config or PostprocessConfig()
    net = fuse_all(copy.deepcopy(model).eval())
    h, w = net.input_size
    with torch.no_grad():
        body = ov.convert_model(_RawHeads(net), example_input=torch.zeros(1, 3, h, w), input=[1, 3, h, w])
    _downgrade_max_pool(body)
    loc, probs = (r.input_value(0) for r in body.get_results())
    priors = ops.constant(proposals(net.anchors.detach()))
    det = ops.detection_output(loc, probs, priors, detection_output_attrs(net.num_classes, config),
                               name=OUTPUT_NAME)
    result = ops.result(det)
    result.output(0).get_tensor().set_names({OUTPUT_NAME})
    param = body.get_parameters()[0]
    param.output(0).get_tensor().set_names({INPUT_NAME})
    return ov.Model([result], [param], "ssd")


def _downgrade_max_pool(model: "object") -> None:
    """Replace MaxPool-14 (what the torch frontend emits) by MaxPool-1, which OpenVINO 2022.3 knows.

    Only floor rounding without dilation is rewritten; that is all our models use (padding, no ceil_mode).
    """
    import openvino.opset1 as ops1

    for node in model.get_ordered_ops():  # type: ignore[attr-defined]
        if node.get_type_name() != "MaxPool" or node.get_type_info().version_id == "opset1":
            continue
        attrs = node.get_attributes()
        if attrs.get("rounding_type", "floor").lower() != "floor" or any(d != 1 for d in attrs["dilations"]):
            continue
        pool = ops1.max_pool(node.input_value(0), attrs["strides"], attrs["pads_begin"], attrs["pads_end"],
                             attrs["kernel"], "floor", attrs.get("auto_pad", "explicit"))
        node.output(0).replace(pool.output(0))


def save_ir(model: SSD, xml: Path, config: PostprocessConfig | None = None) -> Path:
    """Write `xml` (and its .bin) with FP16 weights."""
    import openvino as ov

    xml.parent.mkdir(parents=True, exist_ok=True)
    ov.save_model(to_openvino(model, config), str(xml), compress_to_fp16=True)
    return xml
