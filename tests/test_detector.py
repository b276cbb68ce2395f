"""Detector: preprocessing folded into the model, both output formats, real inference on the footage."""

from __future__ import annotations

import cv2
import numpy as np
import openvino as ov
import openvino.opset8 as ops
import pytest

from agent.decoders import DecoderError, DetectionOutputDecoder, TfObjectDetectionDecoder, bind_decoder
from agent.detector import Detector, InputMismatch, build_preprocessing
from models.manifest import InputSpec
from models.store import ModelStore


def compiled(model: ov.Model) -> ov.CompiledModel:
    return ov.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})


@pytest.mark.parametrize("color", ["RGB", "BGR"])
def test_preprocessing_matches_the_manifest(color: str) -> None:
    param = ops.parameter([1, 3, 4, 4], ov.Type.f32, name="image")
    model = ov.Model([ops.relu(param)], [param])  # identity on the non-negative values we feed
    spec = InputSpec(name="image", shape=[1, 3, 4, 4], layout="NCHW", element_type="f32", color=color,
                     mean=[0.0, 0.0, 0.0], scale=[0.5, 0.25, 1.0])
    frame = np.random.default_rng(0).integers(0, 256, (4, 4, 3), dtype=np.uint8)  # BGR from OpenCV
    out = compiled(build_preprocessing(model, spec))(frame[None])[0][0]
    expected = (frame[..., ::-1] if color == "RGB" else frame).astype(np.float32) * np.array([0.5, 0.25, 1.0])
    np.testing.assert_allclose(out, expected.transpose(2, 0, 1), rtol=1e-6)


def detection_output_model(rows: list[list[float]]) -> ov.CompiledModel:
    param = ops.parameter([1, 3, 8, 8], ov.Type.f32, name="image")
    table = np.array(rows, np.float32).reshape(1, 1, -1, 7)
    out = ops.add(ops.constant(table), ops.multiply(ops.reduce_sum(param, [0, 1, 2, 3], keep_dims=False),
                                                    ops.constant(np.float32(0))))
    return compiled(ov.Model([out], [param]))


def test_detection_output_decoder_stops_at_end_marker_and_threshold() -> None:
    model = detection_output_model([
        [0, 1, 0.9, 0.1, 0.2, 0.3, 0.4], [0, 1, 0.2, 0.5, 0.5, 0.6, 0.6], [-1, 0, 0, 0, 0, 0, 0],
        [0, 1, 0.99, 0.0, 0.0, 1.0, 1.0],
    ])
    decoder = bind_decoder("detection_output", list(model.outputs))
    results = model(np.zeros((1, 3, 8, 8), np.float32))
    dets = decoder(results, 200, 100, 0.5)
    assert len(dets) == 1
    np.testing.assert_allclose(dets.xyxy[0], [20, 20, 60, 40], atol=1e-4)
    assert dets.class_id.tolist() == [1]


def test_decoder_refuses_outputs_of_another_format(store: ModelStore) -> None:
    model = ov.Core().read_model(store.load("person-ssdlite", "1").xml)
    with pytest.raises(DecoderError, match=r"\[1,1,N,7\]"):
        DetectionOutputDecoder(list(model.outputs))
    with pytest.raises(DecoderError, match="detection_boxes"):
        TfObjectDetectionDecoder(list(detection_output_model([[0, 1, 0.9, 0, 0, 1, 1]]).outputs))
    with pytest.raises(DecoderError, match="unknown output format"):
        bind_decoder("yolo", [])


def test_real_inference_finds_people(store: ModelStore, sample_video) -> None:
    detector = Detector.open(store.load("person-ssdlite", "1"))
    capture = cv2.VideoCapture(str(sample_video))
    for _ in range(50):
        ok, image = capture.read()
    assert ok
    dets, times = detector.session().run(image, 0.5)
    assert 2 <= len(dets) <= 10 and set(dets.class_id.tolist()) == {1}
    assert (dets.xyxy[:, 2] <= image.shape[1]).all() and (dets.xyxy[:, 3] <= image.shape[0]).all()
    assert (dets.xyxy[:, 2] > dets.xyxy[:, 0]).all()
    assert times.infer > 0 and times.preprocess > 0


@pytest.mark.parametrize("resize", [True, False])
def test_an_ir_whose_input_is_not_the_manifests_is_refused_by_name(resize: bool) -> None:
    param = ops.parameter([1, 3, 8, 8], ov.Type.f32, name="image")
    model = ov.Model([ops.relu(param)], [param])
    spec = InputSpec(name="image", shape=[1, 3, 16, 16], layout="NCHW", element_type="f32", color="RGB",
                     mean=[0.0, 0.0, 0.0], scale=[1.0, 1.0, 1.0])
    expected = r"manifest declares input shape \[1, 3, 16, 16\], the IR has \[1, 3, 8, 8\]"
    with pytest.raises(InputMismatch, match=expected):
        build_preprocessing(model, spec, resize=resize)
