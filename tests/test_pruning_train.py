"""Training: the loss falls on a tiny overfit set; checkpoints carry the config; resume continues exactly."""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch

from pruning import checkpoint
from pruning.train import TrainConfig, lr_at, train
from tests.pruning_fixtures import synth_voc, tiny_config  # noqa: F401


def _config(data: Path, out: Path, epochs: int, **kw: object) -> TrainConfig:
    fields: dict = {"lr": 3e-3, **kw}
    return TrainConfig(data=data, out=out, model=tiny_config(), epochs=epochs, batch_size=4, warmup_steps=2,
                       max_expand=1.0, threads=1, **fields)  # type: ignore[arg-type]


def test_loss_decreases_on_tiny_overfit_set(synth_voc: Path, tmp_path: Path) -> None:  # noqa: F811
    (synth_voc / "ImageSets" / "Main" / "tiny.txt").write_text("synth_3_00000\nsynth_3_00001\n"
                                                               "synth_3_00002\nsynth_3_00003\n")
    train(_config(synth_voc, tmp_path, epochs=12, split="tiny", augment=False, lr=1e-2), progress=False)
    losses = [json.loads(line)["loss"] for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert len(losses) == 12
    assert max(losses[-3:]) < 0.6 * losses[0]


def test_resume_continues_where_it_stopped(synth_voc: Path, tmp_path: Path) -> None:  # noqa: F811
    straight = _config(synth_voc, tmp_path / "straight", epochs=2)
    train(straight, progress=False)
    interrupted = _config(synth_voc, tmp_path / "resumed", epochs=2, max_steps=math.ceil(18 / 4))
    train(interrupted, progress=False)  # stops after the first epoch, as if killed there
    assert checkpoint.read(interrupted.out / "last.pt")["epoch"] == 1
    resumed = train(interrupted.model_copy(update={"max_steps": None}), progress=False)
    payload = checkpoint.read(resumed)
    assert payload["epoch"] == 2 and payload["step"] == 2 * math.ceil(18 / 4)
    a = checkpoint.read(straight.out / "last.pt")["model"]
    for key, value in payload["model"].items():
        if value.is_floating_point():
            assert torch.allclose(value, a[key], atol=1e-5), key
    model, config = checkpoint.load_model(resumed)
    assert config == tiny_config().model_copy(update={"widths": config.widths})
    assert config.widths["backbone.stem"] == model.backbone.stem.conv.out_channels


def test_warmup_then_cosine() -> None:
    assert lr_at(0, 100, 10, 1.0) == 0.1
    assert lr_at(9, 100, 10, 1.0) == 1.0
    assert lr_at(100, 100, 10, 1.0) == 0.0
    assert 0.4 < lr_at(55, 100, 10, 1.0) < 0.6


def test_fine_tune_at_a_camera_aspect_keeps_the_weights_and_rebuilds_anchors(synth_voc: Path,  # noqa: F811
                                                                             tmp_path: Path) -> None:
    start = train(_config(synth_voc, tmp_path / "square", epochs=1), progress=False)
    wide = (128, 176)  # height, width: wider than the square it was trained at
    _, before = checkpoint.load_model(start)
    model, _ = checkpoint.load_model(start, input_size=wide)
    assert model.input_size == wide and len(model.anchors) != len(checkpoint.load_model(start)[0].anchors)
    tuned = train(_config(synth_voc, tmp_path / "wide", epochs=1, init=start, max_steps=1).model_copy(
        update={"model": tiny_config(input_size=wide)}), progress=False)
    reloaded, config = checkpoint.load_model(tuned)
    assert tuple(config.input_size) == wide and config.widths == before.widths
    assert reloaded.eval()(torch.zeros(1, 3, *wide))[0].shape[1] == len(reloaded.anchors)
