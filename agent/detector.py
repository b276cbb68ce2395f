"""The OpenVINO detector: a verified store model compiled for one device, with preprocessing built in.

Frames arrive as BGR u8 HWC (what OpenCV gives). The only Python-side step is the resize to the
network's input; colour order, element type, layout and mean/scale are folded into the compiled model
with OpenVINO's PrePostProcessor, so they run on the device, described by the manifest alone.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import openvino as ov
from openvino.preprocess import ColorFormat, PrePostProcessor

from agent.decoders import Decoder, bind_decoder
from agent.detections import Detections
from models.manifest import InputSpec, Manifest
from models.store import StoredModel

log = logging.getLogger(__name__)


@dataclass
class StageTimes:
    """Seconds spent in each stage of one inference."""

    preprocess: float = 0.0
    infer: float = 0.0
    postprocess: float = 0.0
    tiling: float = 0.0  # merging the boxes of a tiled frame's windows

    def add(self, other: StageTimes) -> None:
        """Accumulate another inference's times (the windows of one tiled frame)."""
        self.preprocess += other.preprocess
        self.infer += other.infer
        self.postprocess += other.postprocess
        self.tiling += other.tiling


def build_preprocessing(model: ov.Model, spec: InputSpec) -> ov.Model:
    """Fold colour, type, layout and mean/scale into `model`; its input becomes BGR u8 NHWC."""
    ppp = PrePostProcessor(model)
    inp = ppp.input(spec.name) if spec.name in {n for i in model.inputs for n in i.get_names()} else ppp.input()
    inp.tensor().set_element_type(ov.Type.u8).set_layout(ov.Layout("NHWC")).set_color_format(ColorFormat.BGR)
    inp.model().set_layout(ov.Layout(spec.layout))
    steps = inp.preprocess()
    if spec.element_type == "f32":
        steps.convert_element_type(ov.Type.f32)
    if spec.color == "RGB":
        steps.convert_color(ColorFormat.RGB)
    if spec.element_type == "f32":
        if any(m != 0 for m in spec.mean):
            steps.mean(list(spec.mean))
        if any(s != 1 for s in spec.scale):
            steps.scale([1.0 / s for s in spec.scale])  # PPP divides; the manifest multiplies
    return ppp.build()


class Detector:
    """A compiled model plus the decoder for its outputs. Thread-safe; see `session()`."""

    def __init__(self, stored: StoredModel, compiled: ov.CompiledModel, device: str, compile_s: float) -> None:
        self.stored = stored
        self.compiled = compiled
        self.device = device
        self.compile_s = compile_s
        self.decoder: Decoder = bind_decoder(stored.manifest.output_format, list(compiled.outputs))
        self._local = threading.local()

    @classmethod
    def open(
        cls,
        stored: StoredModel,
        device: str = "CPU",
        core: ov.Core | None = None,
        config: dict[str, Any] | None = None,
    ) -> Detector:
        """Read, add preprocessing, compile for `device`, and bind the decoder (raises on mismatch)."""
        core = core or ov.Core()
        started = time.perf_counter()
        model = build_preprocessing(core.read_model(stored.xml), stored.manifest.input)
        compiled = core.compile_model(model, device, config or {"PERFORMANCE_HINT": "LATENCY"})
        detector = cls(stored, compiled, device, time.perf_counter() - started)
        log.info("compiled %s on %s in %.0f ms", stored.manifest.ref, device, detector.compile_s * 1000)
        return detector

    @property
    def manifest(self) -> Manifest:
        return self.stored.manifest

    @property
    def input_size(self) -> tuple[int, int]:
        """(width, height) the frames are resized to."""
        return self.manifest.input.width, self.manifest.input.height

    def session(self) -> InferSession:
        """This thread's own infer request (one per camera thread keeps the device busy)."""
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = InferSession(self)
        return session

    def infer(self, frame: np.ndarray, score_threshold: float) -> Detections:
        """Detect on one BGR frame, synchronously, in this thread's session."""
        return self.session().run(frame, score_threshold)[0]

    def warm_up(self, runs: int = 2) -> float:
        """Run blank frames so the first real frame is not the slow one; returns seconds taken."""
        started = time.perf_counter()
        width, height = self.input_size
        blank = np.zeros((height, width, 3), np.uint8)
        for _ in range(runs):
            self.infer(blank, 1.0)
        return time.perf_counter() - started


class InferSession:
    """One infer request of a detector, used by one thread."""

    def __init__(self, detector: Detector) -> None:
        self.detector = detector
        self.request = detector.compiled.create_infer_request()

    def run(self, frame: np.ndarray, score_threshold: float) -> tuple[Detections, StageTimes]:
        times = StageTimes()
        t0 = time.perf_counter()
        height, width = frame.shape[:2]
        size = self.detector.input_size
        resized = frame if (width, height) == size else cv2.resize(frame, size, interpolation=cv2.INTER_LINEAR)
        tensor = ov.Tensor(np.ascontiguousarray(resized)[None])
        t1 = time.perf_counter()
        self.request.start_async({0: tensor})  # the GIL is released while the device works
        self.request.wait()
        t2 = time.perf_counter()
        detections = self.detector.decoder(self.request.results, width, height, score_threshold)
        t3 = time.perf_counter()
        times.preprocess, times.infer, times.postprocess = t1 - t0, t2 - t1, t3 - t2
        return detections, times
