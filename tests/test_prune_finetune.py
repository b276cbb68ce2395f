"""Fine-tuning between and after pruning steps: distillation from the parent, and a long fine-tune that
resumes after an interruption exactly where an uninterrupted one would be."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

from models.scoring import load_dataset
from pruning.data.synth import LABEL
from pruning.distill import Distiller
from pruning.prune.finetune import FinetuneProgress, FinetuneSettings, batches, finetune
from pruning.prune.surgery import groups_of, prune_group
from pruning.ssd.ssd import SSD
from tests.pruning_fixtures import synth_voc, tiny_model  # noqa: F401

SETTINGS = FinetuneSettings(batch_size=4, lr=1e-3, log_every=2)


class Killed(RuntimeError):
    pass


def annotations(root: Path) -> list:
    return load_dataset(root, "train", {LABEL: 1})


def pruned(seed: int) -> SSD:
    """Another tiny model with two filters out of each of its first three groups (anchors unchanged)."""
    model = tiny_model(seed=seed)
    for name in list(groups_of(model, "ssd-mobilenet"))[:3]:
        prune_group(groups_of(model, "ssd-mobilenet")[name], [0, 1])
    return model


def test_distillation_is_zero_for_the_teacher_itself_and_positive_for_another_model(
        synth_voc: Path) -> None:  # noqa: F811
    teacher = tiny_model()
    distiller = Distiller(copy.deepcopy(teacher), weight=1.0)
    images, _, _ = next(iter(batches(annotations(synth_voc), teacher, SETTINGS, key=0)))
    with torch.no_grad():
        same = distiller.loss(images, *teacher(images), torch.tensor(4))
        student = pruned(seed=1).eval()
        other = distiller.loss(images, *student(images), torch.tensor(4))
    assert same.item() == pytest.approx(0.0, abs=1e-5)
    assert other.item() > 1e-4
    assert not any(p.requires_grad for p in distiller.teacher.parameters())


def test_distillation_pulls_the_student_towards_the_teacher(synth_voc: Path) -> None:  # noqa: F811
    teacher = tiny_model()
    train = annotations(synth_voc)
    images, _, _ = next(iter(batches(train, teacher, SETTINGS, key=7, augment=False)))
    gaps = {}
    for weight in (0.0, 20.0):
        student = pruned(seed=1)
        finetune(student, train, 10, FinetuneSettings(batch_size=4, lr=3e-3), key=1,
                 distiller=Distiller(copy.deepcopy(teacher), weight=weight) if weight else None)
        with torch.no_grad():
            gaps[weight] = Distiller(copy.deepcopy(teacher)).loss(images, *student(images), torch.tensor(1)).item()
    assert gaps[20.0] < gaps[0.0]


@pytest.mark.parametrize("with_teacher", [False, True])
def test_interrupted_finetune_resumes_exactly(synth_voc: Path, with_teacher: bool) -> None:  # noqa: F811
    train = annotations(synth_voc)  # 18 images: 5 batches of 4 per epoch, so step 6 is mid-epoch
    teacher = tiny_model(seed=1)

    def distiller() -> Distiller | None:
        return Distiller(copy.deepcopy(teacher)) if with_teacher else None

    whole = tiny_model()
    loss_whole = finetune(whole, train, 8, SETTINGS, key=3, distiller=distiller())

    saved: list[tuple[dict, FinetuneProgress]] = []

    def kill_after_save(progress: FinetuneProgress) -> None:
        saved.append((copy.deepcopy(crashed.state_dict()), copy.deepcopy(progress)))
        if progress.done == 6:
            raise Killed

    crashed = tiny_model()
    with pytest.raises(Killed):
        finetune(crashed, train, 8, SETTINGS, key=3, distiller=distiller(), on_progress=kill_after_save,
                 save_every=3)
    weights, progress = saved[-1]
    assert progress.done == 6
    resumed = tiny_model(seed=5)
    resumed.load_state_dict(weights)
    loss_resumed = finetune(resumed, train, 8, SETTINGS, key=3, distiller=distiller(), resume=progress)
    assert loss_resumed == pytest.approx(loss_whole, rel=1e-5)
    for (name, a), b in zip(whole.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.allclose(a.float(), b.float(), atol=1e-5), name
