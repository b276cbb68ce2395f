"""Training: SGD or AdamW, linear warm-up then cosine decay, per-epoch checkpoints, exact resume.

`train(config)` is the function; `headcount-prune train` wraps it. The run directory holds
`train.json` (the config), `last.pt` (resumable) and `log.jsonl` (one line per epoch). It runs on
`config.device` (`pruning.device`), and under `torchrun` as one of several data-parallel processes
(`pruning.distributed`): `batch_size` is then the global batch, split among them.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from pydantic import Field
from torch.utils.data import DataLoader
from tqdm import tqdm

from models.base import StrictModel
from models.scoring import load_dataset
from pruning import checkpoint
from pruning.architectures import build_model
from pruning.config import ModelConfig
from pruning.data.dataset import DetectionDataset, collate
from pruning.device import AUTO, Precision, model_device, resolve_device, to_device
from pruning.distill import Distiller
from pruning.distributed import (
    World,
    global_share,
    mean_over_processes,
    process_device,
    process_group,
    unwrap,
    world_from_env,
    wrap,
)
from pruning.ssd.loss import multibox_loss
from pruning.ssd.matching import match_batch
from pruning.ssd.ssd import SSD

log = logging.getLogger(__name__)


class TrainConfig(StrictModel):
    data: Path = Field(description="VOC dataset root.")
    split: str = "train"
    out: Path = Field(description="Run directory (checkpoints, log).")
    model: ModelConfig
    init: Path | None = Field(default=None, description="Checkpoint to start from (e.g. to fine-tune).")
    pretrained_backbone: Path | None = Field(default=None, description="torchvision MobileNetV2 .pth.")
    epochs: int = Field(default=20, gt=0)
    batch_size: int = Field(default=16, gt=0)
    optimizer: Literal["sgd", "adamw"] = "adamw"
    lr: float = Field(default=1e-3, gt=0)
    weight_decay: float = Field(default=1e-4, ge=0)
    warmup_steps: int = Field(default=100, ge=0)
    max_expand: float = Field(default=2.0, ge=1.0)
    augment: bool = Field(default=True, description="False: no augmentation (overfit checks).")
    seed: int = 0
    threads: int = Field(default=1, gt=0)
    max_steps: int | None = Field(default=None, description="Stop early after this many steps (tests).")
    device: str = Field(default=AUTO, description="PyTorch device: auto, cpu, cuda or cuda:N (pruning.device).")
    amp: bool = Field(default=False, description="float16 autocast with scaled gradients (CUDA only).")
    freeze_bn_stats: bool = Field(default=False, description="BatchNorm keeps its running statistics (its "
                                  "scale and shift still learn): for per-process batches too small for them.")


def lr_at(step: int, total: int, warmup: int, base: float) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return base * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def make_optimizer(model: SSD, cfg: TrainConfig) -> torch.optim.Optimizer:
    decay = [p for n, p in model.named_parameters() if p.ndim > 1]
    no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=0.9, nesterov=True)
    return torch.optim.AdamW(groups, lr=cfg.lr)


def initial_model(cfg: TrainConfig) -> SSD:
    """A fresh model (ImageNet backbone when given), or `init`'s weights at `cfg.model`'s input size.

    Convolution weights do not depend on the input size, so a checkpoint trained at 300x300 fine-tunes at
    a camera's aspect ratio (e.g. 384x288); only the anchors, which are rebuilt, change.
    """
    if cfg.init is not None:
        model, _ = checkpoint.load_model(cfg.init, input_size=tuple(cfg.model.input_size))
        return model
    model = build_model(cfg.model)
    if cfg.pretrained_backbone is not None:
        from pruning.weights import load_imagenet_backbone

        load_imagenet_backbone(model.backbone, cfg.pretrained_backbone)  # type: ignore[arg-type]
    return model


def train_step(model: SSD | torch.nn.Module, optimizer: torch.optim.Optimizer, batch: tuple,
               distiller: Distiller | None = None, precision: Precision | None = None) -> dict[str, float]:
    """One optimizer step on the MultiBox loss (plus the distillation loss when a teacher is given).

    The batch goes to the model's device. `model` may be wrapped in DistributedDataParallel: the loss is
    then rescaled to the global count of matched anchors (`global_share`), so that the gradients DDP
    averages are a single process's on the whole global batch. The figures returned are this process's.
    """
    core = unwrap(model)
    precision = precision or Precision(model_device(core))
    images, boxes, labels = to_device(batch, model_device(core))
    loc_t, labels_t = match_batch(boxes, labels, core.anchors)
    with precision.autocast():
        loc, conf = model(images)
    loc, conf = loc.float(), conf.float()
    parts = multibox_loss(loc, conf, loc_t, labels_t)
    terms = {"loc": parts.loc, "conf": parts.conf}
    if distiller is not None:
        with precision.autocast():
            terms["distill"] = distiller.loss(images, loc, conf, (labels_t > 0).sum())
    loss = parts.total + terms["distill"] if distiller is not None else parts.total
    if model is not core:  # each term as its share of the global one: their mean over processes is that
        share = global_share((labels_t > 0).sum())
        loss, terms = loss * share, {k: v * share for k, v in terms.items()}
    losses = {"loss": loss.item(), **{k: v.item() for k, v in terms.items()}}
    precision.step(loss, optimizer, list(model.parameters()), 10.0)
    return losses


def freeze_bn_statistics(model: torch.nn.Module) -> None:
    """BatchNorm layers to eval mode: normalised by their running statistics, which stay as they are.

    In training mode each process normalises by its own share of the batch (there is no SyncBatchNorm on
    CPUs), so N processes equal one exactly only with the statistics frozen."""
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.eval()


def _seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def train(cfg: TrainConfig, progress: bool = True) -> Path:
    """Train (or resume) into `cfg.out`; returns the path of the final checkpoint.

    Under torchrun every process runs this; they share the work of each global batch, and rank 0 alone
    writes the run directory."""
    torch.set_num_threads(cfg.threads)
    world = world_from_env()
    if cfg.batch_size % world.size:
        raise ValueError(f"--batch-size {cfg.batch_size}: the global batch must split evenly among "
                         f"{world.size} processes")
    device = process_device(resolve_device(cfg.device), world)
    precision = Precision(device, cfg.amp)
    with process_group(device, world):
        return _train(cfg, world, device, precision, progress)


def _train(cfg: TrainConfig, world: World, device: torch.device, precision: Precision, progress: bool) -> Path:
    _seed(cfg.seed)
    if world.is_main:
        cfg.out.mkdir(parents=True, exist_ok=True)
        (cfg.out / "train.json").write_text(cfg.model_dump_json(indent=2))
    annotations = load_dataset(cfg.data, cfg.split, {v: k for k, v in cfg.model.labels.items()})
    dataset = DetectionDataset(annotations, tuple(cfg.model.input_size), cfg.augment, cfg.seed, cfg.max_expand)
    model = initial_model(cfg)
    if cfg.init is not None:  # the init's widths and anchors travel on, at the requested input size
        cfg = cfg.model_copy(update={"model": checkpoint.read_config(cfg.init).model_copy(
            update={"input_size": tuple(cfg.model.input_size)})})
    model.to(device)
    optimizer = make_optimizer(model, cfg)
    steps_per_epoch = math.ceil(len(dataset) / cfg.batch_size)
    total = cfg.epochs * steps_per_epoch
    start_epoch, step = _resume(cfg.out / "last.pt", model, optimizer)
    net = wrap(model, device, world)
    for epoch in range(start_epoch, cfg.epochs):
        dataset.epoch = epoch
        net.train()
        if cfg.freeze_bn_stats:
            freeze_bn_statistics(model)
        sums: dict[str, float] = {}
        batches, started = 0, time.time()
        bar = tqdm(_loader(dataset, cfg, epoch, world), desc=f"epoch {epoch + 1}/{cfg.epochs}",
                   disable=not (progress and world.is_main), mininterval=30)
        for batch in bar:
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step, total, cfg.warmup_steps, cfg.lr)
            losses = train_step(net, optimizer, batch, precision=precision)
            sums = {k: sums.get(k, 0.0) + v for k, v in losses.items()}
            step, batches = step + 1, batches + 1
            bar.set_postfix(loss=f"{losses['loss']:.3f}", refresh=False)
            if cfg.max_steps is not None and step >= cfg.max_steps:
                break
        means = mean_over_processes({k: v / max(1, batches) for k, v in sums.items()}, device)
        if world.is_main:
            _end_epoch(cfg, model, optimizer, {"epoch": epoch + 1, "step": step, "processes": world.size,
                                               "seconds": round(time.time() - started, 1),
                                               "lr": optimizer.param_groups[0]["lr"], **means})
        if cfg.max_steps is not None and step >= cfg.max_steps:
            break
    return cfg.out / "last.pt"


def epoch_order(size: int, seed: int) -> list[int]:
    """The image order of an epoch: exactly what a shuffling DataLoader with a generator seeded `seed`
    draws (it takes its workers' base seed from the generator before the permutation)."""
    generator = torch.Generator().manual_seed(seed)
    return [int(i) for i in DataLoader(range(size), batch_size=None, shuffle=True, generator=generator)]


def _loader(dataset: DetectionDataset, cfg: TrainConfig, epoch: int, world: World) -> DataLoader:
    """This epoch's batches, shuffled by (seed, epoch) alone: a resumed run sees what an uninterrupted one
    would. Across processes, each takes every world.size-th image of that same order, so each global
    batch holds exactly the images a single process would have taken."""
    order = epoch_order(len(dataset), cfg.seed * 1000 + epoch)
    order += order[:-len(order) % world.size]  # padded to a multiple of the processes, as DistributedSampler
    return DataLoader(dataset, cfg.batch_size // world.size, sampler=order[world.rank::world.size],
                      collate_fn=collate)


def _end_epoch(cfg: TrainConfig, model: SSD, optimizer: torch.optim.Optimizer, record: dict) -> None:
    """Rank 0's log line and checkpoint after an epoch."""
    with (cfg.out / "log.jsonl").open("a") as fh:
        fh.write(json.dumps(record) + "\n")
    log.info("epoch %s", record)
    checkpoint.save(cfg.out / "last.pt", model, cfg.model, optimizer=optimizer.state_dict(),
                    epoch=record["epoch"], step=record["step"])


def _resume(path: Path, model: SSD, optimizer: torch.optim.Optimizer) -> tuple[int, int]:
    """(epoch, step) to continue from; (0, 0) for a fresh run."""
    if not path.is_file():
        return 0, 0
    payload = checkpoint.read(path)
    model.load_state_dict(payload["model"])
    optimizer.load_state_dict(payload["optimizer"])
    log.info("resuming from %s at epoch %d", path, payload["epoch"])
    return int(payload["epoch"]), int(payload["step"])
