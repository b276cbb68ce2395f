"""The PyTorch device of the host commands: `auto`, `cpu`, `cuda` or `cuda:N`, checked once, used everywhere.

Models live on one device; whatever meets them there (batches, targets, anchors, losses) follows the
model (`model_device`), so only the entry points (train, fine-tune, eval) choose. Mixed precision
(`Precision`) is CUDA's float16 autocast with a gradient scaler; off, the same calls are pass-throughs,
which is what the CPU tests exercise. Checkpoints are always read onto the CPU first
(`pruning.checkpoint.read` maps them there), so a model trained on a GPU prunes on a CPU and back.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported when a device is resolved, so that building the CLI stays light
    import torch
    from torch import nn

AUTO = "auto"
DEVICE_HELP = "PyTorch device: auto (cuda when this torch sees a GPU, else cpu), cpu, cuda or cuda:N"
_CUDA = re.compile(r"cuda(?::(\d+))?")


class DeviceError(ValueError):
    """A device that is unknown or not present here; the message names it and what is available."""


def resolve_device(name: str = AUTO) -> torch.device:
    """`auto`, `cpu`, `cuda` or `cuda:N` (any case) -> a device that exists here, else `DeviceError`."""
    import torch

    text = name.strip().lower()
    if text == AUTO:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if text == "cpu":
        return torch.device("cpu")
    cuda = _CUDA.fullmatch(text)
    if cuda is None:
        raise DeviceError(f"device {name!r}: unknown; use auto, cpu, cuda or cuda:N "
                          "(OpenVINO names such as CPU or GPU only apply to commands that run IRs)")
    if not torch.cuda.is_available():
        built = "built with CUDA, but no GPU is visible" if torch.backends.cuda.is_built() else "a CPU-only build"
        raise DeviceError(f"device {name!r}: CUDA is not available here (torch {torch.__version__}, {built}); "
                          "use --device cpu")
    count = torch.cuda.device_count()
    if cuda.group(1) is not None and int(cuda.group(1)) >= count:
        raise DeviceError(f"device {name!r}: this machine has {count} CUDA device(s), cuda:0 to cuda:{count - 1}")
    return torch.device(text)


def device_arg(text: str) -> torch.device:
    """argparse `type=` for `--device`: the resolved device, or a usage error that names the problem."""
    try:
        return resolve_device(text)
    except DeviceError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def openvino_device_name(name: str) -> str:
    """Where `--device` means OpenVINO's (commands that run IRs): its name upper-cased, as OpenVINO spells
    them (CPU, GPU.1, AUTO:NPU,CPU); a PyTorch name (cuda, cuda:N) is refused, naming the mix-up."""
    if _CUDA.fullmatch(name.strip().lower()):
        raise DeviceError(f"device {name!r} is a PyTorch device; here OpenVINO runs the model: use CPU, GPU, NPU "
                          "or another OpenVINO device name")
    return name.strip().upper()


def openvino_device_arg(text: str) -> str:
    """argparse `type=` for an OpenVINO `--device` (`openvino_device_name`)."""
    try:
        return openvino_device_name(text)
    except DeviceError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_device_args(parser: argparse.ArgumentParser, amp: bool = True) -> None:
    """`--device` (and `--amp`) of a command whose models run in PyTorch."""
    parser.add_argument("--device", type=device_arg, default=AUTO, help=f"{DEVICE_HELP} (default auto)")
    if amp:
        parser.add_argument("--amp", action="store_true",
                            help="mixed precision (float16 autocast, scaled gradients); CUDA only")


def model_device(model: nn.Module) -> torch.device:
    """The device a model's weights are on (where its inputs must go)."""
    import torch

    for tensor in model.parameters():
        return tensor.device
    return torch.device("cpu")


def to_device(batch: tuple, device: torch.device) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
    """A training batch (images, boxes per image, labels per image) on `device`."""
    images, boxes, labels = batch
    return (images.to(device, non_blocking=True), [b.to(device, non_blocking=True) for b in boxes],
            [lab.to(device, non_blocking=True) for lab in labels])


@contextmanager
def on_device(model: nn.Module, device: torch.device) -> Iterator[nn.Module]:
    """`model` moved to `device` for the block and back where it was after it (in place: references hold).

    The pruner keeps its model on the CPU (surgery, FLOP counts, IR export) and fine-tunes it here."""
    home = model_device(model)
    model.to(device)
    try:
        yield model
    finally:
        model.to(home)


@dataclass
class Precision:
    """Float32, or float16 autocast with a gradient scaler (`amp`, CUDA only)."""

    device: torch.device = field(default_factory=lambda: resolve_device("cpu"))
    amp: bool = False

    def __post_init__(self) -> None:
        import torch

        if self.amp and self.device.type != "cuda":
            raise DeviceError(f"--amp (float16 autocast) needs a CUDA device, not {self.device}")
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp)

    def autocast(self) -> AbstractContextManager:
        import torch

        return torch.autocast(self.device.type, dtype=torch.float16, enabled=self.amp)

    def step(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer, params: list[nn.Parameter],
             max_norm: float) -> None:
        """Backward, gradient clipping at `max_norm` (on unscaled gradients), optimizer step."""
        import torch

        optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(params, max_norm)
        self.scaler.step(optimizer)
        self.scaler.update()
