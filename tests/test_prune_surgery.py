"""Dependency-correct physical pruning of both architectures, importance scores, replayable history."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from pruning import checkpoint
from pruning.architectures import build_model, config_of
from pruning.prune.groups import PruneGroup
from pruning.prune.importance import Taylor, WeightNorm, make_importance
from pruning.prune.surgery import PruneStep, apply_step, groups_of, prune_group, prune_to_widths, replay
from pruning.ssd.ssd import SSD
from tests.pruning_fixtures import ARCHS, TINY, tiny_config, tiny_model

HALF = 0.5


def _outputs(model: SSD, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.no_grad():
        return model.eval()(x)


def _silence(group: PruneGroup, dropped: list[int]) -> None:
    """Make the `dropped` channels output exactly zero at every member (BN scale and shift 0)."""
    with torch.no_grad():
        for unit in group.members.values():
            if isinstance(unit.bn, nn.BatchNorm2d):
                unit.bn.weight[dropped] = 0
                unit.bn.bias[dropped] = 0
            else:
                unit.conv.weight[dropped] = 0
                if unit.conv.bias is not None:
                    unit.conv.bias[dropped] = 0


def _every_other(width: int) -> list[int]:
    return list(range(0, width, 2))[: max(1, int(width * HALF))]


@pytest.mark.parametrize("arch", ARCHS)
def test_groups_exclude_heads_and_residual_ties(arch: str) -> None:
    groups = groups_of(tiny_model(arch), arch)
    assert groups and not any("heads" in name and name.endswith(".out") for name in groups)
    if arch == "ssd-mobilenet":
        assert "backbone.blocks.2.project" not in groups  # residual stage: left alone
        assert "backbone.blocks.16.project" in groups and "backbone.blocks.13.dw" in \
            groups["backbone.blocks.13.expand"].members
        assert {"cls_heads.0.dw", "loc_heads.0.dw"} <= set(groups["backbone.blocks.13.expand"].members)
    else:
        reader = groups["backbone.fires.0.expand3x3"].consumers[0]
        assert reader.name == "backbone.fires.1.squeeze" and reader.offset > 0


@pytest.mark.parametrize("arch", ARCHS)
def test_removing_silent_filters_keeps_outputs(arch: str) -> None:
    """Every group loses half its filters, zeroed first -> same outputs, consistent shapes."""
    model = tiny_model(arch)
    x = torch.randn(2, 3, TINY, TINY)
    plan = {}
    for name, group in groups_of(model, arch).items():
        dropped = _every_other(group.width) if group.width > 2 else [0]
        _silence(group, dropped)
        plan[name] = dropped
    before = _outputs(model, x)
    widths = {name: prune_group(groups_of(model, arch)[name], dropped) for name, dropped in plan.items()}
    after = _outputs(model, x)
    assert {n: g.width for n, g in groups_of(model, arch).items()} == {n: len(k) for n, k in widths.items()}
    for b, a in zip(before, after, strict=True):
        assert a.shape == b.shape
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("arch", ARCHS)
def test_pruned_checkpoint_reloads_and_history_replays(arch: str, tmp_path: Path) -> None:
    model = tiny_model(arch)
    config = tiny_config(arch)
    names = list(groups_of(model, arch))
    history = [PruneStep(name, [0, 1]) for name in names[1:6]]
    for step in history:
        apply_step(model, arch, step)
    path = tmp_path / "pruned.pt"
    checkpoint.save(path, model, config)
    reloaded, saved_config = checkpoint.load_model(path)
    x = torch.randn(1, 3, TINY, TINY)
    for a, b in zip(_outputs(model, x), _outputs(reloaded, x), strict=True):
        torch.testing.assert_close(a, b)
    assert saved_config.widths == config_of(model, config).widths
    replayed = replay(build_model(config), arch, history)
    assert config_of(replayed, config).widths == saved_config.widths


@pytest.mark.parametrize("arch", ARCHS)
def test_prune_to_widths_keeps_the_first_filters_and_leaves_the_rest(arch: str) -> None:
    model = tiny_model(arch)
    original = {n: g.width for n, g in groups_of(model, arch).items()}
    first, second = list(original)[:2]
    weights = groups_of(model, arch)[first].root.conv.weight.detach().clone()
    after = prune_to_widths(model, arch, {first: original[first] // 2, second: original[second] + 5})
    assert after == {**original, first: original[first] // 2}  # a width above the layer's is left alone
    kept = groups_of(model, arch)[first].root.conv.weight.detach()
    assert torch.equal(kept, weights[: original[first] // 2])
    with pytest.raises(ValueError, match="layer nope: not a prunable group"):
        prune_to_widths(model, arch, {"nope": 4})


def test_bad_drop_names_the_layer() -> None:
    model = tiny_model("ssd-mobilenet")
    with pytest.raises(ValueError, match="backbone.last"):
        apply_step(model, "ssd-mobilenet", PruneStep("backbone.last", [10_000]))
    with pytest.raises(ValueError, match="backbone.blocks.2.project"):
        apply_step(model, "ssd-mobilenet", PruneStep("backbone.blocks.2.project", [0]))


def test_equal_widths_after_pruning_do_not_add_a_residual_on_reload(tmp_path: Path) -> None:
    """Stem pruned to 16 (= block 0's projection) and block 16's projection to 160 (= its input): the
    blocks keep the structure they had (no add), and the reloaded checkpoint computes the same."""
    config = tiny_config("ssd-mobilenet", width_mult=1.0)
    model = build_model(config).eval()
    residual = [block.use_res for block in model.backbone.blocks]
    for name, width in (("backbone.stem", 16), ("backbone.blocks.16.project", 160)):
        group = groups_of(model, "ssd-mobilenet")[name]
        prune_group(group, list(range(width, group.width)))
    path = tmp_path / "pruned.pt"
    checkpoint.save(path, model, config)
    reloaded, _ = checkpoint.load_model(path)
    assert [block.use_res for block in reloaded.backbone.blocks] == residual
    assert not reloaded.backbone.blocks[0].use_res and not reloaded.backbone.blocks[16].use_res
    x = torch.randn(1, 3, TINY, TINY)
    for a, b in zip(_outputs(model, x), _outputs(reloaded, x), strict=True):
        torch.testing.assert_close(a, b)


def test_narrow_first_blocks_keep_mobilenets_residual_rule() -> None:
    """At width 0.25 the stem and block 0 are both 8 wide: block 0 adds its input, as in MobileNetV2."""
    model = build_model(tiny_config("ssd-mobilenet"))
    assert model.backbone.blocks[0].use_res
    assert "backbone.stem" not in groups_of(model, "ssd-mobilenet")


@pytest.mark.parametrize("kind", ["l1", "l2"])
def test_weight_norm_ranks_a_shrunk_filter_last(kind: str) -> None:
    model = tiny_model("ssd-squeezenet")
    group = groups_of(model, "ssd-squeezenet")["backbone.fires.2.expand1x1"]
    with torch.no_grad():
        group.root.conv.weight[5] *= 1e-3
    scores = make_importance(kind)(group)
    assert scores.shape == (group.width,) and int(scores.argmin()) == 5
    assert scores.sum().item() == pytest.approx(1.0)


def test_taylor_scores_follow_surgery() -> None:
    model = tiny_model("ssd-mobilenet").train()
    taylor = Taylor()
    batches = [torch.randn(2, 3, TINY, TINY) for _ in range(2)]
    taylor.accumulate(model, batches, lambda m, b: sum(o.pow(2).mean() for o in m(b)))
    group = groups_of(model, "ssd-mobilenet")["backbone.blocks.3.expand"]
    assert taylor(group).shape == (group.width,)
    keep = prune_group(group, [0, 1, 2])
    taylor.pruned(group, keep)
    assert taylor(groups_of(model, "ssd-mobilenet")["backbone.blocks.3.expand"]).shape == (len(keep),)
    assert isinstance(WeightNorm(), WeightNorm)
