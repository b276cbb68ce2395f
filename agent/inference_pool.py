"""Infer requests pooled across cameras: a compiled model's optimal number of requests, shared by every camera.

One request per camera thread (what the agent had) gives eight cameras eight requests queued on a
device that runs two at a time (the THROUGHPUT hint's streams on a 2-core CPU); each costs memory and
none adds throughput. The pool holds the number the compiled model asks for
(`OPTIMAL_NUMBER_OF_INFER_REQUESTS`) plus one spare; a camera thread borrows one for a frame (or a
tiling window), starts it, and later waits for it with the GIL released, decodes and gives it back.
While a camera's frame is in flight it may start its next frame on an idle request (`try_start`), so
the device works on it while the camera's thread decodes, counts and publishes the previous one; it
never waits for a second request (two cameras each holding one and waiting for another would block
each other). Requests go to waiting cameras first come, first served (`FairHandOff`): with a plain queue
the camera that gave a request back took it again before a woken waiter could, and with more cameras
than requests some cameras all but stopped (8 cameras read 3 to 49 frames/s each). Counts stay in frame
order: a camera finishes its frames in the order it started them.

On the CPU the pool resizes each frame (or tiling window) to the network's input with OpenCV
(`host_resize`; see `agent.detector.resizes_on_host`), straight into the input buffer its request owns
and reads every time, so no array or tensor is made per frame; elsewhere the frame goes in as it is,
wrapped without a copy, and the compiled model resizes it (only a crop that is not contiguous is copied).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

import cv2
import numpy as np
import openvino as ov

from agent.decoders import Decoder
from agent.detections import Detections


@dataclass
class StageTimes:
    """Seconds spent in each stage of one inference."""

    preprocess: float = 0.0  # the frame as the request's input: OpenCV's resize on the CPU, else wrapping it
    infer: float = 0.0  # the device's work, from start to result
    postprocess: float = 0.0  # decoding the outputs into `Detections`
    tiling: float = 0.0  # merging the boxes of a tiled frame's windows
    wait: float = 0.0  # waiting for a free request while other cameras' frames hold them all

    def add(self, other: StageTimes) -> None:
        """Accumulate another inference's times (the windows of one tiled frame)."""
        self.preprocess += other.preprocess
        self.infer += other.infer
        self.postprocess += other.postprocess
        self.tiling += other.tiling
        self.wait += other.wait


class Pending(Protocol):
    """A started detection."""

    def wait(self) -> None:
        """Until the device has finished (nothing decoded yet)."""

    def result(self, score_threshold: float) -> tuple[Detections, StageTimes]:
        """The detections from `score_threshold` (call once)."""


class InferSession(Protocol):
    """What the counting path detects with: the pool, or a stand-in in tests."""

    def run(self, image: np.ndarray, score_threshold: float) -> tuple[Detections, StageTimes]: ...

    def start(self, image: np.ndarray) -> Pending: ...

    def try_start(self, image: np.ndarray) -> Pending | None: ...


def optimal_requests(compiled: ov.CompiledModel) -> int:
    """The compiled model's `OPTIMAL_NUMBER_OF_INFER_REQUESTS` (1 where the device does not say)."""
    try:
        return max(1, int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")))
    except (RuntimeError, TypeError, ValueError):
        return 1


@dataclass(eq=False)  # a handle: equal only to itself
class PooledRequest:
    """An infer request of the pool and, when the host resizes, the input buffer it was given once."""

    request: ov.InferRequest
    input: np.ndarray | None = None  # [1, height, width, 3] u8, the request's input tensor's memory
    tensor: ov.Tensor | None = field(default=None, repr=False)
    """The input the request reads now: kept here while it runs, since a tensor that shares a NumPy array
    does not keep that array alive on the request's side."""

    def load(self, image: np.ndarray) -> None:
        """Give the request a BGR u8 image: resized into its own buffer, else wrapped as it is.

        Raises `ValueError` for any other image: OpenCV would resize it into a new array and leave the
        buffer, and so the request, on the previous frame."""
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"a frame must be BGR u8 (height, width, 3); got {image.dtype} {image.shape}")
        if self.input is None:
            self.tensor = ov.Tensor(np.ascontiguousarray(image)[None], shared_memory=True)
            self.request.set_input_tensor(self.tensor)
        elif image.shape[:2] == self.input.shape[1:3]:
            np.copyto(self.input[0], image)
        else:
            height, width = self.input.shape[1:3]
            cv2.resize(image, (width, height), dst=self.input[0], interpolation=cv2.INTER_LINEAR)


class RequestOutputs:
    """A finished request's outputs by port, read in place: what a `Decoder` indexes.

    `InferRequest.results` wraps every output in a dict first; after an inference that costs twice
    as much (160 against 76 us on this CPU). The arrays are the request's memory: decode them before
    the request goes back to the pool.
    """

    __slots__ = ("_request",)

    def __init__(self, request: ov.InferRequest) -> None:
        self._request = request

    def __getitem__(self, port: ov.ConstOutput) -> np.ndarray:
        return self._request.get_tensor(port).data


class InFlight:
    """One started inference: `result()` waits for it, decodes it and gives its request back (call once)."""

    def __init__(self, pool: InferencePool, pooled: PooledRequest, width: int, height: int, started: float,
                 times: StageTimes) -> None:
        self._pool = pool
        self._pooled: PooledRequest | None = pooled  # None once the result was taken
        self._size, self._started, self._times = (width, height), started, times

    def wait(self) -> None:
        """Until the device has finished it (the GIL is released meanwhile); `result` then only decodes."""
        if self._pooled is not None:
            self._pooled.request.wait()

    def result(self, score_threshold: float) -> tuple[Detections, StageTimes]:
        pooled, self._pooled = self._pooled, None
        if pooled is None:
            raise RuntimeError("the result of this inference was already taken (its request is back in the pool)")
        times, request = self._times, pooled.request
        try:
            request.wait()  # the GIL is released while the device works
            t3 = time.perf_counter()
            detections = self._pool.decoder(RequestOutputs(request), *self._size, score_threshold)
        finally:
            self._pool._give_back(pooled)
        times.infer, times.postprocess = t3 - self._started, time.perf_counter() - t3
        return detections, times


class FairHandOff:
    """Idle requests, handed to waiting threads in the order they asked.

    A request given back goes straight to the oldest waiter, so a thread that gives one back and asks
    again at once (it holds the GIL; the woken waiter does not) queues behind the others instead of
    taking it back. Without waiters, the request used last is handed out first (its memory is warm).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: list[PooledRequest] = []
        self._waiters: deque[_Waiter] = deque()

    def take(self) -> PooledRequest:
        """An idle request, waiting in turn behind the threads that asked before."""
        with self._lock:
            if self._idle and not self._waiters:
                return self._idle.pop()
            waiter = _Waiter()
            self._waiters.append(waiter)
        try:
            waiter.ready.wait()
        except BaseException:  # interrupted (KeyboardInterrupt on the main thread): leave the line
            with self._lock:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
            if waiter.ready.is_set():  # handed a request meanwhile: pass it on
                assert waiter.pooled is not None
                self.give_back(waiter.pooled)
            raise
        assert waiter.pooled is not None
        return waiter.pooled

    def take_if_idle(self) -> PooledRequest | None:
        """An idle request now, or None (also while any thread waits for one: it goes first)."""
        with self._lock:
            return self._idle.pop() if self._idle and not self._waiters else None

    def give_back(self, pooled: PooledRequest) -> None:
        with self._lock:
            if self._waiters:
                waiter = self._waiters.popleft()
                waiter.pooled = pooled
                waiter.ready.set()
            else:
                self._idle.append(pooled)


@dataclass(eq=False)
class _Waiter:
    ready: threading.Event = field(default_factory=threading.Event)
    pooled: PooledRequest | None = None


class InferencePool:
    """A fixed set of infer requests on one compiled model, borrowed one at a time by any thread.

    `host_resize` (width, height): the compiled model's static input size; each request then owns a buffer
    of that size, set as its input once, which every image is resized into. None: the compiled model takes
    images of any size.
    """

    def __init__(self, compiled: ov.CompiledModel, decoder: Decoder, size: int | None = None,
                 host_resize: tuple[int, int] | None = None) -> None:
        self.decoder = decoder
        self.host_resize = host_resize
        self.size = size or optimal_requests(compiled) + 1  # a spare: a camera starts its next frame early
        self._requests = FairHandOff()
        for _ in range(self.size):
            self._requests.give_back(self._pooled(compiled.create_infer_request()))

    def _pooled(self, request: ov.InferRequest) -> PooledRequest:
        if self.host_resize is None:
            return PooledRequest(request)
        width, height = self.host_resize
        buffer = np.zeros((1, height, width, 3), np.uint8)
        tensor = ov.Tensor(buffer, shared_memory=True)
        request.set_input_tensor(tensor)
        return PooledRequest(request, buffer, tensor)  # tensor: set once, held for the request's life

    def run(self, image: np.ndarray, score_threshold: float) -> tuple[Detections, StageTimes]:
        """Detect on one BGR u8 image of any size; blocks until a request is free and has run."""
        return self.start(image).result(score_threshold)

    def start(self, image: np.ndarray) -> InFlight:
        """Start detecting on `image`, waiting for a free request if none is idle."""
        started = self._start(image, block=True)
        assert started is not None
        return started

    def try_start(self, image: np.ndarray) -> InFlight | None:
        """Start detecting on `image` if a request is idle now and no other thread waits for one; None
        (nothing done) if not."""
        return self._start(image, block=False)

    def _start(self, image: np.ndarray, block: bool) -> InFlight | None:
        t0 = time.perf_counter()
        pooled = self._requests.take() if block else self._requests.take_if_idle()
        if pooled is None:
            return None
        t1 = time.perf_counter()
        try:
            pooled.load(image)
            t2 = time.perf_counter()
            pooled.request.start_async()
        except BaseException:
            self._give_back(pooled)
            raise
        times = StageTimes(preprocess=t2 - t1, wait=t1 - t0)
        return InFlight(self, pooled, image.shape[1], image.shape[0], t2, times)

    def _give_back(self, pooled: PooledRequest) -> None:
        if pooled.input is None:
            pooled.tensor = None  # the frame it wrapped is free to go
        self._requests.give_back(pooled)

    def run_all_once(self, image: np.ndarray) -> None:
        """Run every request once at the same time on `image` (warms each stream, not only the first)."""
        taken: list[PooledRequest] = []
        started: list[PooledRequest] = []
        try:
            for _ in range(self.size):
                taken.append(self._requests.take())
            for pooled in taken:
                pooled.load(image)
                pooled.request.start_async()
                started.append(pooled)
            for pooled in started:
                pooled.request.wait()
        finally:
            for pooled in taken:
                if pooled in started:  # never back into the pool while it runs (done already unless failing)
                    with contextlib.suppress(Exception):
                        pooled.request.wait()
                self._give_back(pooled)
