"""Checkpoints that carry the model config (with per-layer widths), so pruned models reload as they are.

Training checkpoints also hold optimizer state, progress and RNG state for resume; shipped ones
(`export_weights`) hold only the config and an FP16 state dict.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from pruning.architectures import build_model, config_of
from pruning.config import ModelConfig
from pruning.ssd.ssd import SSD


class CheckpointError(ValueError):
    """A checkpoint cannot be read or does not fit its own config; the message names the file."""


def save(path: Path, model: SSD, config: ModelConfig, **state: Any) -> None:
    """Atomic save of model, config (widths taken from the model) and any extra state."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"config": config_of(model, config).model_dump(mode="json"), "model": model.state_dict(), **state}
    tmp = path.with_suffix(".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)


def read(path: Path | str) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds for corrupt files
        raise CheckpointError(f"{path}: not a readable checkpoint ({exc})") from None
    if not isinstance(payload, dict) or "config" not in payload or "model" not in payload:
        raise CheckpointError(f"{path}: not a headcount-prune checkpoint (no 'config'/'model')")
    return payload


def read_config(path: Path | str) -> ModelConfig:
    """The model config a checkpoint carries."""
    return ModelConfig.model_validate(read(path)["config"])


def load_model(path: Path | str, input_size: tuple[int, int] | None = None) -> tuple[SSD, ModelConfig]:
    """Rebuild the model from the checkpoint's config and load its weights (as float32).

    `input_size` (height, width) rebuilds it for another input (anchors follow; weights are size-free).
    """
    payload = read(path)
    config = ModelConfig.model_validate(payload["config"])
    if input_size is not None:
        config = config.model_copy(update={"input_size": tuple(input_size)})
    model = build_model(config)
    state = {k: v.float() if v.is_floating_point() else v for k, v in payload["model"].items()}
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: weights do not fit the config they carry: {exc}") from None
    return model, config


def export_weights(source: Path | str, target: Path) -> None:
    """A small shippable checkpoint: config + FP16 weights, no optimizer."""
    payload = read(source)
    state = {k: v.half() if v.is_floating_point() else v for k, v in payload["model"].items()}
    target.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"config": payload["config"], "model": state, "source": str(source)}, target)
