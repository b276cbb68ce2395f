"""Output decoders: raw infer results -> `Detections`, one class per output format in the manifest.

A decoder binds to a compiled model's outputs once (`bind`), so a model whose outputs do not fit its
declared format is refused before it ever runs.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from agent.detections import Detections


class DecoderError(ValueError):
    """The model's outputs do not match the output format its manifest declares."""


class Decoder(Protocol):
    def __call__(self, results: Any, width: int, height: int, score_threshold: float) -> Detections:
        """`results[port]`: an output's array (the request's memory, so copy what is kept)."""


def _names(port: Any) -> set[str]:
    return {name.split(":")[0] for name in port.get_names()}


class DetectionOutputDecoder:
    """OpenVINO `DetectionOutput`: [1, 1, N, 7] rows of (image_id, label, conf, x1, y1, x2, y2), normalised."""

    def __init__(self, outputs: list[Any]) -> None:
        candidates = [o for o in outputs if o.get_partial_shape().rank.get_length() == 4]
        if len(candidates) != 1 or candidates[0].get_partial_shape()[3].get_length() != 7:
            shapes = [str(o.get_partial_shape()) for o in outputs]
            raise DecoderError(f"expected one [1,1,N,7] DetectionOutput result, model has outputs {shapes}")
        self.port = candidates[0]

    def __call__(self, results: Any, width: int, height: int, score_threshold: float) -> Detections:
        rows = np.asarray(results[self.port]).reshape(-1, 7)
        end = np.flatnonzero(rows[:, 0] < 0)
        if len(end):
            rows = rows[: end[0]]
        rows = rows[rows[:, 2] >= score_threshold]
        return _scaled(rows[:, 3:7], rows[:, 2], rows[:, 1], width, height)


class TfObjectDetectionDecoder:
    """TF Object Detection API: detection_boxes (y1, x1, y2, x2), _scores, _classes, num_detections."""

    STEMS = ("detection_boxes", "detection_scores", "detection_classes", "num_detections")

    def __init__(self, outputs: list[Any]) -> None:
        ports: dict[str, Any] = {}
        for port in outputs:
            for stem in self.STEMS:
                if stem in _names(port):
                    ports[stem] = port
        missing = [s for s in self.STEMS if s not in ports]
        if missing:
            raise DecoderError(f"TF Object Detection API outputs missing: {', '.join(missing)}")
        self.ports = ports

    def __call__(self, results: Any, width: int, height: int, score_threshold: float) -> Detections:
        num = int(np.asarray(results[self.ports["num_detections"]]).reshape(-1)[0])
        boxes = np.asarray(results[self.ports["detection_boxes"]]).reshape(-1, 4)[:num]
        scores = np.asarray(results[self.ports["detection_scores"]]).reshape(-1)[:num]
        classes = np.asarray(results[self.ports["detection_classes"]]).reshape(-1)[:num]
        keep = scores >= score_threshold
        return _scaled(boxes[keep][:, [1, 0, 3, 2]], scores[keep], classes[keep], width, height)


def _scaled(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, width: int, height: int) -> Detections:
    xyxy = np.clip(boxes, 0.0, 1.0) * np.array([width, height, width, height], dtype=np.float32)
    return Detections(xyxy, scores, np.rint(classes))


DECODERS: dict[str, type] = {
    "detection_output": DetectionOutputDecoder,
    "tf_od_api": TfObjectDetectionDecoder,
}


def bind_decoder(output_format: str, outputs: list[Any]) -> Decoder:
    """The decoder for `output_format`, bound to a model's output ports."""
    try:
        decoder_cls = DECODERS[output_format]
    except KeyError:
        raise DecoderError(f"unknown output format {output_format!r} (known: {', '.join(DECODERS)})") from None
    return decoder_cls(outputs)
