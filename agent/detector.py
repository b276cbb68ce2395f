"""The OpenVINO detector: a verified store model compiled for one device, with preprocessing built in.

Frames arrive as BGR u8 HWC of any size (what OpenCV gives, or a tiling window). Colour order, element
type, layout and mean/scale, described by the manifest alone, are folded into the compiled model with
OpenVINO's PrePostProcessor. Where the resize to the network's input runs depends on the device
(`resizes_on_host`): on the CPU, OpenCV resizes (bilinear) before the frame goes in and the model's
input is static at the network's size; on an accelerator the compiled model resizes (the same
bilinear), so the host's CPU stays free.

Inference goes through an `InferencePool` (the compiled model's optimal number of requests, shared by
every camera); the performance hint the model is compiled with follows the number of cameras unless
the config sets one (`choose_hint`).
"""

from __future__ import annotations

import logging
import time
from typing import Any, Literal

import numpy as np
import openvino as ov
from openvino.preprocess import ColorFormat, PrePostProcessor, ResizeAlgorithm

from agent.decoders import Decoder, bind_decoder
from agent.detections import Detections
from agent.inference_pool import InferencePool, InferSession, StageTimes
from models.manifest import InputSpec, Manifest
from models.store import StoredModel

log = logging.getLogger(__name__)

__all__ = ["Detector", "InferSession", "InputMismatch", "StageTimes", "build_preprocessing", "choose_hint",
           "resizes_on_host"]

Hint = Literal["LATENCY", "THROUGHPUT"]


class InputMismatch(ValueError):
    """The IR's input is not the one its manifest declares (shape)."""


def choose_hint(configured: Hint | None, cameras: int) -> Hint:
    """The config's hint if it sets one; else LATENCY for one camera, THROUGHPUT for several.

    One camera has one frame in flight: a single stream using every core finishes it soonest. Several
    cameras have several frames in flight: THROUGHPUT's streams (one per core or so) run them side by
    side, which measured 1.3 to 1.4 times the aggregate frame rate of LATENCY with 2 to 8 cameras here.
    """
    if configured is not None:
        return configured
    return "THROUGHPUT" if cameras > 1 else "LATENCY"


def resizes_on_host(device: str) -> bool:
    """Whether frames for `device` are resized by OpenCV before inference rather than inside the compiled model.

    On the CPU the host is the device. There the graph's resize (`Interpolate`) cost about 1.9 ms of a
    9.6 ms SSD-SqueezeNet INT8 inference on one thread, whatever the frame's size, and the input's
    dynamic spatial shape slows the rest; `cv2.resize` of a 768x576 frame takes 0.12 to 0.16 ms. With
    the resize outside and a static input, the compiled model ran 22 % (person-ssdlite, SSD-MobileNet)
    to 35 % (SSD-SqueezeNet INT8) more frames per second (`bench/resize_placement.py`,
    docs/performance.md). Accelerators (and the virtual
    devices, which may pick one) resize inside the model, so the host's CPU is free for decoding.
    """
    return device.partition(":")[0].split(".")[0] == "CPU"


def build_preprocessing(model: ov.Model, spec: InputSpec, resize: bool = True) -> ov.Model:
    """Fold colour, type, layout and mean/scale into `model`; its input becomes BGR u8 NHWC.

    With `resize`, the input takes frames of any size and the model resizes them (bilinear, like
    `cv2.INTER_LINEAR`); without, the input is static at the network's size (the caller resizes).
    """
    named = [i for i in model.inputs if spec.name in i.get_names()]
    ir_shape = (named or model.inputs)[0].get_partial_shape()
    if ir_shape.is_static and list(ir_shape.to_shape()) != list(spec.shape):
        raise InputMismatch(f"the manifest declares input shape {list(spec.shape)}, the IR has "
                            f"{list(ir_shape.to_shape())}")
    ppp = PrePostProcessor(model)
    inp = ppp.input(spec.name) if named else ppp.input()
    tensor = inp.tensor().set_element_type(ov.Type.u8).set_layout(ov.Layout("NHWC")) \
        .set_color_format(ColorFormat.BGR)
    if resize:
        tensor.set_spatial_dynamic_shape()
    else:
        tensor.set_shape([1, spec.height, spec.width, 3])
    inp.model().set_layout(ov.Layout(spec.layout))
    steps = inp.preprocess()
    if resize:
        steps.resize(ResizeAlgorithm.RESIZE_LINEAR)  # on u8 and before the rest: every later step sees the small image
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
    """A compiled model, the decoder for its outputs and the pool of requests every camera shares. Thread-safe."""

    def __init__(self, stored: StoredModel, compiled: ov.CompiledModel, device: str, compile_s: float) -> None:
        self.stored = stored
        self.compiled = compiled
        self.device = device
        self.compile_s = compile_s
        self.decoder: Decoder = bind_decoder(stored.manifest.output_format, list(compiled.outputs))
        self.pool = InferencePool(compiled, self.decoder,
                                  host_resize=self.input_size if resizes_on_host(device) else None)

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
        model = build_preprocessing(core.read_model(stored.xml), stored.manifest.input,
                                    resize=not resizes_on_host(device))
        compiled = core.compile_model(model, device, config or {"PERFORMANCE_HINT": "LATENCY"})
        detector = cls(stored, compiled, device, time.perf_counter() - started)
        log.info("compiled %s on %s in %.0f ms (%d infer requests)", stored.manifest.ref, device,
                 detector.compile_s * 1000, detector.pool.size)
        return detector

    @property
    def manifest(self) -> Manifest:
        return self.stored.manifest

    @property
    def input_size(self) -> tuple[int, int]:
        """(width, height) of the network's input (frames are resized to it, by OpenCV or the compiled model)."""
        return self.manifest.input.width, self.manifest.input.height

    def session(self) -> InferencePool:
        """The request pool every camera thread runs its frames through."""
        return self.pool

    def infer(self, frame: np.ndarray, score_threshold: float) -> Detections:
        """Detect on one BGR frame of any size, synchronously."""
        return self.session().run(frame, score_threshold)[0]

    def warm_up(self, runs: int = 2) -> float:
        """Run blank frames on every request at once, so no camera's first frame is the slow one; returns seconds."""
        started = time.perf_counter()
        width, height = self.input_size
        blank = np.zeros((height, width, 3), np.uint8)
        for _ in range(runs):
            self.pool.run_all_once(blank)
        return time.perf_counter() - started
