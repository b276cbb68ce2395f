"""Fine-tuning between pruning steps and after them (optionally distilled from the parent), the detection
loss (also Taylor's), validation mAP.

Every fine-tune is seeded by its step number, so an interrupted and resumed run repeats exactly what an
uninterrupted one would have done; a long one also resumes from its last saved progress.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field

import torch
from torch.utils.data import DataLoader

from models.scoring import Annotation
from pruning.data.dataset import DetectionDataset, collate
from pruning.device import Precision, model_device, on_device, resolve_device, to_device
from pruning.distill import Distiller
from pruning.evaluate import EvalReport, TorchPredictor, evaluate
from pruning.ssd.loss import multibox_loss
from pruning.ssd.matching import match_batch
from pruning.ssd.ssd import SSD
from pruning.train import train_step

log = logging.getLogger(__name__)


@dataclass
class FinetuneSettings:
    batch_size: int = 8
    lr: float = 5e-4
    weight_decay: float = 1e-4
    max_expand: float = 2.0
    seed: int = 0
    log_every: int = 50
    """Log progress every this many steps of a fine-tune that has more than that many."""
    device: str = "cpu"
    """PyTorch device of the fine-tunes (`pruning.device`); the model returns to where it was after each."""
    amp: bool = False
    """float16 autocast (CUDA only)."""


@dataclass
class FinetuneProgress:
    """Where a long fine-tune stands (steps done, loss so far, optimizer state), so that it resumes."""

    done: int
    loss_sum: float
    optimizer: dict = field(default_factory=dict)


def detection_loss(model: SSD, batch: tuple) -> torch.Tensor:
    """The training loss (matched targets, smooth L1 + hard-negative-mined cross-entropy)."""
    images, boxes, labels = to_device(batch, model_device(model))
    loc_t, labels_t = match_batch(boxes, labels, model.anchors)
    loc, conf = model(images)
    parts = multibox_loss(loc, conf, loc_t, labels_t)
    return parts.total


def batches(annotations: list[Annotation], model: SSD, settings: FinetuneSettings, key: int,
            augment: bool = True, skip: int = 0) -> DataLoader:
    """A shuffled loader whose order and augmentations depend only on (seed, key); `skip` first batches
    left out (a resumed fine-tune continues mid-epoch without loading them)."""
    dataset = DetectionDataset(annotations, tuple(model.input_size), augment, settings.seed, settings.max_expand)
    dataset.epoch = key
    generator = torch.Generator().manual_seed(settings.seed * 100_003 + key)
    order = torch.randperm(len(dataset), generator=generator).tolist()[skip * settings.batch_size:]
    return DataLoader(dataset, settings.batch_size, sampler=order, collate_fn=collate)


def finetune(model: SSD, annotations: list[Annotation], steps: int, settings: FinetuneSettings, key: int,
             distiller: Distiller | None = None, resume: FinetuneProgress | None = None,
             on_progress: Callable[[FinetuneProgress], None] | None = None, save_every: int = 50) -> float:
    """`steps` AdamW steps with cosine decay (fresh optimizer: the shapes just changed); mean loss.

    Runs on `settings.device` (the model, and the distiller's teacher, go there for the fine-tune and
    back after it). With `on_progress`, the progress is handed over every `save_every` steps; the same
    call with that progress as `resume` (and the model as it was then) continues exactly where it stood.
    """
    if steps <= 0:
        return float("nan")
    device = resolve_device(settings.device)
    with ExitStack() as stack:
        stack.enter_context(on_device(model, device))
        if distiller is not None:
            stack.enter_context(on_device(distiller.teacher, device))
        return _finetune(model, annotations, steps, settings, key, distiller, resume, on_progress, save_every,
                         Precision(device, settings.amp))


def _finetune(model: SSD, annotations: list[Annotation], steps: int, settings: FinetuneSettings, key: int,
              distiller: Distiller | None, resume: FinetuneProgress | None,
              on_progress: Callable[[FinetuneProgress], None] | None, save_every: int, precision: Precision
              ) -> float:
    torch.manual_seed(settings.seed * 100_003 + key)
    decay = [p for p in model.parameters() if p.ndim > 1]
    rest = [p for p in model.parameters() if p.ndim <= 1]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": settings.weight_decay},
                                   {"params": rest, "weight_decay": 0.0}], lr=settings.lr)
    done, total = 0, 0.0
    if resume is not None:
        optimizer.load_state_dict(resume.optimizer)  # its tensors follow the parameters' device
        done, total = resume.done, resume.loss_sum
        log.info("fine-tune resumed at step %d of %d", done, steps)
    per_epoch = math.ceil(len(annotations) / settings.batch_size)
    started, first = time.time(), done
    model.train()
    while done < steps:
        epoch, offset = divmod(done, per_epoch)
        for batch in batches(annotations, model, settings, key * 1000 + epoch, skip=offset):
            for group in optimizer.param_groups:
                group["lr"] = settings.lr * 0.5 * (1 + math.cos(math.pi * done / steps))
            total += train_step(model, optimizer, batch, distiller, precision)["loss"]
            done += 1
            if on_progress is not None and done % save_every == 0 and done < steps:
                on_progress(FinetuneProgress(done, total, optimizer.state_dict()))
            if steps > settings.log_every and done % settings.log_every == 0:
                rate = (time.time() - started) / (done - first)
                log.info("fine-tune %d/%d steps, loss %.3f, ETA %.0f s", done, steps, total / done,
                         rate * (steps - done))
            if done >= steps:
                break
    model.eval()
    return total / steps


def validate(model: SSD, annotations: list[Annotation], labels: dict[int, str]) -> EvalReport:
    report = evaluate(annotations, TorchPredictor(model), labels, progress=False)
    model.eval()
    return report


def split_validation(annotations: list[Annotation], every: int, limit: int) -> tuple[list, list]:
    """(fine-tune set, validation set): every `every`-th training image (at most `limit`) is held out.

    The parent was trained on all of them, so validation mAP is optimistic in level but tracks the drop
    that pruning causes; the held-out test split is only used for the final figures.
    """
    val_ids = set(range(0, len(annotations), every)[:limit])
    train = [a for i, a in enumerate(annotations) if i not in val_ids]
    return train, [annotations[i] for i in sorted(val_ids)]
