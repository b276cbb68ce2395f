"""Inference pooled across cameras: the hint follows the cameras, counts stay per camera and in order,
a swap still switches between frames, and OpenCV's resize on the CPU finds what the compiled model's did.

Real OpenVINO on the CPU, the real model, real footage (vtest.avi frames written to short clips), the
real reader, worker and controller threads.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import openvino as ov
import pytest

from agent import inference_pool
from agent.config import CameraConfig, ModelConfig, OccupancyConfig, TrackerConfig
from agent.control import ControlContext, Controller, prepare_model
from agent.count_path import CountPath
from agent.decoders import Decoder, bind_decoder
from agent.detector import Detector, build_preprocessing, choose_hint, resizes_on_host
from agent.inference_pool import InferencePool, InFlight, PooledRequest
from agent.pipeline import ActiveModel, CameraWorker, RunningModel
from agent.stream import CameraReader
from agent.telemetry import StageStats
from agent.timing import reported
from agent.topics import CountMessage
from models.manifest import Manifest
from models.scoring import box_iou
from models.store import MANIFEST, ModelStore, write_manifest

CAMERAS = 3  # more cameras than the THROUGHPUT hint's requests on a 2-core CPU


@pytest.mark.parametrize(("configured", "cameras", "hint"), [
    (None, 1, "LATENCY"), (None, 2, "THROUGHPUT"), (None, 16, "THROUGHPUT"),
    ("LATENCY", 8, "LATENCY"), ("THROUGHPUT", 1, "THROUGHPUT"),
])
def test_chosen_hint_follows_the_config_and_the_camera_count(configured: str | None, cameras: int,
                                                             hint: str) -> None:
    assert choose_hint(configured, cameras) == hint  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def several(store: ModelStore) -> RunningModel:
    """The model as the agent prepares it for several cameras (no hint in the config)."""
    running, _, _ = prepare_model(store, ov.Core(), ModelConfig(store=store.root, devices=["CPU"]),
                                  "person-ssdlite", "1", cameras=CAMERAS)
    return running


def test_several_cameras_compile_for_throughput_with_the_optimal_requests_and_a_spare(several: RunningModel) -> None:
    compiled = several.detector.compiled
    assert reported(compiled, "PERFORMANCE_HINT") == "THROUGHPUT"
    assert several.detector.pool.size == int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")) + 1


def vtest_clip(source: Path, path: Path, start: int, frames: int) -> Path:
    """`frames` frames of the sample video from `start`, at half size (MJPG)."""
    capture = cv2.VideoCapture(str(source))
    capture.set(cv2.CAP_PROP_POS_FRAMES, start)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (384, 288))
    for _ in range(frames):
        ok, image = capture.read()
        assert ok, f"{source} has fewer than {start + frames} frames"
        writer.write(cv2.resize(image, (384, 288), interpolation=cv2.INTER_AREA))
    writer.release()
    return path


def clip_frames(clip: Path) -> Iterator[np.ndarray]:
    capture = cv2.VideoCapture(str(clip))
    while (image := capture.read()[1]) is not None:
        yield image


def start_cameras(clips: list[Path], active: ActiveModel, stop: threading.Event, loop: bool
                  ) -> tuple[list[CameraWorker], dict[str, list[CountMessage]]]:
    """A reader and a worker per clip, read as fast as inference takes frames; every frame emits a message."""
    messages: dict[str, list[CountMessage]] = {}
    workers = []
    for i, clip in enumerate(clips):
        name = f"cam{i}"
        received = messages.setdefault(name, [])
        reader = CameraReader(CameraConfig(name=name, source=str(clip), realtime=False, loop=loop), stop)
        path = CountPath(reader.config, TrackerConfig(), OccupancyConfig(statistic="last"))
        worker = CameraWorker(reader, path, active, StageStats(), lambda message, *_, r=received: r.append(message),
                              0.0, stop, lambda camera, exc: None)
        reader.start()
        worker.start()
        workers.append(worker)
    return workers, messages


def wait_until(condition: Callable[[], bool], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_counts_stay_per_camera_and_in_order_under_pooled_requests(several: RunningModel, sample_video: Path,
                                                                   tmp_path: Path) -> None:
    clips = [vtest_clip(sample_video, tmp_path / f"c{i}.avi", start, 6) for i, start in enumerate([0, 300, 600])]
    expected = {}  # each clip alone, frame by frame through the same pool
    for i, clip in enumerate(clips):
        found = [several.detector.pool.run(image, several.threshold)[0] for image in clip_frames(clip)]
        expected[f"cam{i}"] = [int((d.class_id == several.class_id).sum()) for d in found]
    stop = threading.Event()
    workers, messages = start_cameras(clips, ActiveModel(several), stop, loop=False)
    try:
        wait_until(lambda: not any(w.is_alive() for w in workers))  # a worker ends after its last frame
    finally:
        stop.set()
    for camera, received in messages.items():
        assert [m.frame for m in received] == list(range(6)), f"{camera}: frames missing or out of order"
        assert all(m.camera == camera for m in received)
        assert [m.raw_count for m in received] == expected[camera], f"{camera}: counts differ from its own clip's"
    assert len({tuple(counts) for counts in expected.values()}) > 1, "the clips should not all count alike"


class WatchedPool(InferencePool):
    """The real pool, noting the most requests one camera had out at once."""

    def __init__(self, compiled: ov.CompiledModel, decoder: Decoder, host_resize: tuple[int, int] | None) -> None:
        super().__init__(compiled, decoder, host_resize=host_resize)
        self.out = self.most_out = 0

    def _start(self, image: np.ndarray, block: bool) -> InFlight | None:
        started = super()._start(image, block)
        if started is not None:
            self.out += 1
            self.most_out = max(self.most_out, self.out)
        return started

    def _give_back(self, pooled: PooledRequest) -> None:
        self.out -= 1
        super()._give_back(pooled)


def test_one_camera_starts_its_next_frame_before_counting_the_last(store: ModelStore, sample_video: Path,
                                                                   tmp_path: Path) -> None:
    running, _, _ = prepare_model(store, ov.Core(), ModelConfig(store=store.root, devices=["CPU"]),
                                  "person-ssdlite", "1", cameras=1)
    detector = running.detector
    assert reported(detector.compiled, "PERFORMANCE_HINT") == "LATENCY" and detector.pool.size == 2
    clip = vtest_clip(sample_video, tmp_path / "c.avi", 200, 12)
    expected = [int((detector.pool.run(image, running.threshold)[0].class_id == running.class_id).sum())
                for image in clip_frames(clip)]
    detector.pool = WatchedPool(detector.compiled, detector.decoder, detector.pool.host_resize)
    stop = threading.Event()
    workers, messages = start_cameras([clip], ActiveModel(running), stop, loop=False)
    try:
        wait_until(lambda: not workers[0].is_alive())
    finally:
        stop.set()
    assert [m.frame for m in messages["cam0"]] == list(range(12)), "frames missing or out of order"
    assert [m.raw_count for m in messages["cam0"]] == expected
    assert detector.pool.most_out == 2, "the next frame was never started while the last was counted"
    assert detector.pool.out == 0, "a request was not given back"


def version_2(store: ModelStore, root: Path) -> ModelStore:
    """A store holding the default model as version 1 and an identical copy as version 2."""
    for version in ("1", "2"):
        target = root / "person-ssdlite" / version
        shutil.copytree(store.directory("person-ssdlite", "1"), target)
        manifest = Manifest.model_validate_json((target / MANIFEST).read_text())
        write_manifest(target, manifest.model_copy(update={"version": version}))
    return ModelStore(root)


def test_a_swap_with_several_cameras_switches_between_frames(several: RunningModel, store: ModelStore,
                                                             sample_video: Path, tmp_path: Path) -> None:
    swapped = version_2(store, tmp_path / "store")
    new_detector = Detector(swapped.load("person-ssdlite", "2"), several.detector.compiled, "CPU", 0.0)
    new = RunningModel(new_detector, several.class_id, several.threshold)
    clips = [vtest_clip(sample_video, tmp_path / f"c{i}.avi", 100 * i, 6) for i in range(CAMERAS)]
    stop = threading.Event()
    active = ActiveModel(several)
    workers, messages = start_cameras(clips, active, stop, loop=True)
    ctx = ControlContext(store=swapped, core=ov.Core(), model_config=ModelConfig(store=swapped.root),
                         active=active, workers=workers, publish_result=lambda r: None,
                         publish_state=lambda: None, status=dict)
    try:
        wait_until(lambda: all(w.frames_processed >= 3 for w in workers))
        switched = Controller(ctx, stop).switch_to(new)
        wait_until(lambda: all(len(m) > switched[c] + 3 for c, m in messages.items()))
    finally:
        stop.set()
    old_ref, new_ref = several.detector.manifest.ref, new_detector.manifest.ref
    for worker in workers:
        received = messages[worker.camera]
        at = switched[worker.camera]
        assert [m.frame for m in received] == list(range(len(received))), f"{worker.camera}: a frame was skipped"
        assert [m.model for m in received] == [old_ref] * at + [new_ref] * (len(received) - at)
        assert worker.reader.slot.dropped == 0
        assert [model for model, _ in worker.switch_frames] == [new], "the camera still holds the old model"


def test_on_the_cpu_frames_are_resized_by_opencv_into_a_static_input(several: RunningModel) -> None:
    detector = several.detector
    assert resizes_on_host("CPU") and not resizes_on_host("GPU.1") and not resizes_on_host("AUTO:CPU,GPU")
    width, height = detector.input_size
    assert detector.pool.host_resize == (width, height)
    assert list(detector.compiled.inputs[0].get_partial_shape().to_shape()) == [1, height, width, 3]


def model_resizing_pool(running: RunningModel) -> InferencePool:
    """The same model compiled as for an accelerator: any frame size, the compiled model resizes."""
    core, stored = ov.Core(), running.detector.stored
    model = build_preprocessing(core.read_model(stored.xml), stored.manifest.input, resize=True)
    compiled = core.compile_model(model, "CPU")
    return InferencePool(compiled, bind_decoder(stored.manifest.output_format, list(compiled.outputs)))


@pytest.mark.parametrize(("start", "window"), [(50, None), (400, None), (400, (200, 100, 768, 576))])
def test_opencv_resize_finds_what_the_compiled_models_resize_found(several: RunningModel, sample_video: Path,
                                                                   start: int, window: tuple | None) -> None:
    capture = cv2.VideoCapture(str(sample_video))
    capture.set(cv2.CAP_PROP_POS_FRAMES, start)
    ok, frame = capture.read()
    assert ok
    if window is not None:  # a tiling window: a view into the frame, not contiguous
        x0, y0, x1, y1 = window
        frame = frame[y0:y1, x0:x1]
    threshold = 0.3
    on_host, _ = several.detector.pool.run(frame, threshold)
    in_model, _ = model_resizing_pool(several).run(frame, threshold)
    assert len(on_host.confidence) >= 2
    confident = on_host.confidence >= 0.5
    iou = box_iou(on_host.xyxy[confident], in_model.xyxy)
    assert (iou.max(axis=1) > 0.85).all(), f"a confident detection moved: best IoUs {iou.max(axis=1)}"
    matched = iou.argmax(axis=1)
    np.testing.assert_allclose(in_model.confidence[matched], on_host.confidence[confident], atol=0.1)
    assert abs(len(in_model.confidence) - len(on_host.confidence)) <= 1


def test_an_image_nobody_else_holds_stays_alive_while_its_request_runs(several: RunningModel,
                                                                      sample_video: Path) -> None:
    capture = cv2.VideoCapture(str(sample_video))
    capture.set(cv2.CAP_PROP_POS_FRAMES, 400)
    frame = capture.read()[1]
    pool, threshold = several.detector.pool, 0.3
    expected, _ = pool.run(frame.copy(), threshold)
    for _ in range(5):
        started = pool.start(frame.copy())  # the pool resizes it into an array only the request uses
        litter = [np.full((640, 640, 3), 255, np.uint8) for _ in range(20)]  # reuse any memory freed meanwhile
        found, _ = started.result(threshold)
        del litter
        np.testing.assert_array_equal(found.confidence, expected.confidence)
        np.testing.assert_array_equal(found.xyxy, expected.xyxy)


def test_each_request_reads_the_buffer_the_frame_was_resized_into(several: RunningModel, sample_video: Path) -> None:
    """On the CPU a frame is resized into its request's own input buffer; nothing is allocated per frame."""
    capture = cv2.VideoCapture(str(sample_video))
    frames = [capture.read()[1] for _ in range(2)]
    pool = several.detector.pool
    width, height = several.detector.input_size
    started = pool.start(frames[0])
    pooled = started._pooled
    assert pooled.input is not None and pooled.input.shape == (1, height, width, 3)
    np.testing.assert_array_equal(pooled.input[0], cv2.resize(frames[0], (width, height)))
    started.result(0.5)
    assert np.shares_memory(pooled.request.get_input_tensor().data, pooled.input)
    window = frames[1][:height, :width]  # already the network's size, and not contiguous: copied in
    again = pool.start(window)
    assert again._pooled is pooled, "the pool is LIFO: the request used last comes back first"
    np.testing.assert_array_equal(pooled.input[0], window)
    again.result(0.5)


def test_a_frame_that_finds_no_idle_request_is_left_alone(several: RunningModel, sample_video: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """`try_start` takes a request before it touches the frame: with every request busy it resizes nothing
    and writes into no request's buffer (each still holds the frame it is running on)."""
    capture = cv2.VideoCapture(str(sample_video))
    frames = [capture.read()[1] for _ in range(8)]
    resized: list[tuple[int, ...]] = []
    real_resize = cv2.resize

    def counting_resize(image: np.ndarray, *args: object, **kwargs: object) -> np.ndarray:
        resized.append(image.shape)
        return real_resize(image, *args, **kwargs)

    monkeypatch.setattr(inference_pool.cv2, "resize", counting_resize)
    pool = several.detector.pool
    busy = [pool.start(frames[i]) for i in range(pool.size)]
    inputs = [started._pooled.input.copy() for started in busy]
    try:
        assert pool.try_start(frames[-1]) is None
        assert len(resized) == pool.size, "a frame that found no idle request was resized"
        for started, before in zip(busy, inputs, strict=True):
            np.testing.assert_array_equal(started._pooled.input, before)
    finally:
        for started in busy:
            started.result(0.5)
    started = pool.try_start(frames[-1])
    assert started is not None and len(resized) == pool.size + 1
    started.result(0.5)


def test_no_camera_starves_when_the_cameras_outrun_the_device(several: RunningModel, sample_video: Path,
                                                             tmp_path: Path) -> None:
    """Twice as many cameras as requests, read as fast as inference takes frames: a camera that keeps a
    frame in flight does not take the request another camera is waiting for, so every camera progresses."""
    clip = vtest_clip(sample_video, tmp_path / "c.avi", 100, 20)
    stop = threading.Event()
    workers, _ = start_cameras([clip] * (2 * several.detector.pool.size), ActiveModel(several), stop, loop=True)
    try:
        wait_until(lambda: all(w.frames_processed > 0 for w in workers))
        before = [w.frames_processed for w in workers]
        time.sleep(4.0)
        frames = [w.frames_processed - b for w, b in zip(workers, before, strict=True)]
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=10)
    assert min(frames) >= max(frames) / 2, f"frames per camera in 4 s: {frames}"  # was 0 to 177


@pytest.mark.parametrize("frame", [np.zeros((576, 768), np.uint8), np.zeros((576, 768, 4), np.uint8),
                                   np.zeros((288, 384, 3), np.uint16), np.zeros((576, 768, 1), np.uint8)])
def test_a_frame_that_is_not_bgr_u8_is_refused_and_the_request_returned(several: RunningModel,
                                                                      frame: np.ndarray) -> None:
    """OpenCV would resize such a frame into a new array and leave the request on the previous frame."""
    pool = several.detector.pool
    with pytest.raises(ValueError, match=r"BGR u8 \(height, width, 3\)"):
        pool.start(frame)
    busy = [pool.start(np.zeros((288, 384, 3), np.uint8)) for _ in range(pool.size)]  # none was lost
    for started in busy:
        started.result(0.5)
    with pytest.raises(RuntimeError, match="already taken"):
        busy[0].result(0.5)
