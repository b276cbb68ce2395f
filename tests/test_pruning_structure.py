"""Layer graph and spec: consumers, residual groups, concat offsets, and pruned widths that reload."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from agent.profile.spec_io import check_spec
from models.layer_spec import ModelSpec
from pruning import checkpoint
from pruning.architectures import build_model, unit_widths
from pruning.structure import build_graph, to_spec
from tests.pruning_fixtures import ARCHS, tiny_config, tiny_model


@pytest.mark.parametrize("arch", ARCHS)
def test_graph_is_consistent_and_spec_validates(arch: str) -> None:
    model = tiny_model(arch)
    graph = build_graph(model, arch)
    spec = ModelSpec.model_validate_json(to_spec(graph, arch).model_dump_json())
    names = {layer.name for layer in spec.layers}
    assert names == set(unit_widths(model))
    for layer in spec.layers:
        assert set(layer.consumers) <= names
        if layer.name.endswith(".out"):
            assert not layer.prunable and layer.consumers == []
        if layer.kind == "depthwise":
            assert layer.group is not None and layer.groups == layer.in_channels
    assert spec.layer("backbone.stem").input_size == (128, 128)
    check_spec(spec, arch)  # what `headcount-agent profile` checks before measuring


def test_mobilenet_residual_stage_is_tied_and_frozen() -> None:
    spec = to_spec(build_graph(tiny_model("ssd-mobilenet"), "ssd-mobilenet"), "m")
    stage = [spec.layer(f"backbone.blocks.{i}.project") for i in (3, 4, 5)]  # the 32-channel stage
    assert {layer.group for layer in stage} == {"residual:backbone.blocks.3.project"}
    assert not any(layer.prunable for layer in stage)
    assert spec.layer("backbone.blocks.0.project").prunable  # single-block stage: free
    tap = spec.layer("backbone.blocks.13.expand")
    assert set(tap.consumers) == {"backbone.blocks.13.dw", "cls_heads.0.dw", "loc_heads.0.dw"}
    assert spec.layer("cls_heads.0.dw").group == tap.group == spec.layer("backbone.blocks.13.dw").group


def test_fire_concat_offsets() -> None:
    model = tiny_model("ssd-squeezenet")
    graph = build_graph(model, "ssd-squeezenet")
    e1 = model.backbone.fires[0].expand1x1.conv.out_channels
    assert graph.producers("backbone.fires.1.squeeze") == [("backbone.fires.0.expand1x1", 0),
                                                           ("backbone.fires.0.expand3x3", e1)]
    assert ("backbone.fires.3.expand3x3", model.backbone.fires[3].expand1x1.conv.out_channels) in \
        graph.producers("cls_heads.0.out")


@pytest.mark.parametrize(("arch", "layer", "reader"), [
    ("ssd-mobilenet", "backbone.blocks.6.expand", "backbone.blocks.6.dw"),
    ("ssd-squeezenet", "backbone.fires.2.expand3x3", "backbone.fires.3.squeeze"),
])
def test_pruned_widths_build_run_and_reload(tmp_path: Path, arch: str, layer: str, reader: str) -> None:
    config = tiny_config(arch)
    widths = unit_widths(build_model(config))
    widths[layer] -= 4
    pruned = build_model(config.model_copy(update={"widths": widths})).eval()
    build_graph(pruned, arch)  # raises if any consumer's input no longer fits
    assert pruned.get_submodule(layer).conv.out_channels == widths[layer]
    assert pruned.get_submodule(reader).conv.in_channels < build_model(config).get_submodule(reader).conv.in_channels
    checkpoint.save(tmp_path / "p.pt", pruned, config)
    reloaded, reloaded_config = checkpoint.load_model(tmp_path / "p.pt")
    assert reloaded_config.widths[layer] == widths[layer]
    x = torch.randn(1, 3, 128, 128)
    with torch.no_grad():
        assert torch.equal(reloaded.eval()(x)[1], pruned(x)[1])
