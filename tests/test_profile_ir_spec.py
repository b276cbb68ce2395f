"""The spec read from the default model's IR matches the hand-written SSDLite-MobileNetV2 example spec."""

from __future__ import annotations

from pathlib import Path

from agent import exit_codes
from agent.cli import main
from agent.profile.ir_spec import spec_from_ir
from agent.profile.spec_io import load_spec, profiled_layers
from models.lut import load_lut
from models.store import ModelStore
from tests.helpers import ROOT, STORE

EXAMPLE = ROOT / "docs" / "examples" / "ssdlite-mobilenet-v2.spec.json"


def shapes(layers: list) -> list[tuple]:
    return [(x.kind, x.in_channels, x.out_channels, x.kernel, x.stride, tuple(x.input_size)) for x in layers]


def test_ir_spec_matches_the_example_spec() -> None:
    stored = ModelStore(STORE).load("person-ssdlite", "1")
    from_ir = spec_from_ir(stored.xml, stored.manifest.ref)
    example = load_spec(EXAMPLE)
    assert len(from_ir.layers) == len(example.layers) == 88
    assert sorted(shapes(from_ir.layers)) == sorted(shapes(example.layers))
    assert shapes(profiled_layers(from_ir)) == shapes(profiled_layers(example))
    expansion = profiled_layers(from_ir)[14]  # block 13's expansion also feeds the first head
    assert (expansion.out_channels, len(expansion.consumers)) == (576, 3)


def test_cli_profiles_a_store_model(tmp_path: Path) -> None:
    out = tmp_path / "lut.json"
    stored = ModelStore(STORE).load("person-ssdlite", "1")
    small = profiled_layers(spec_from_ir(stored.xml))[-2].name  # 256 -> 64 at 2x2: quick to time
    code = main(["profile", "--model", "person-ssdlite@1", "--store", str(STORE), "--out", str(out),
                 "--layers", small, "--counts", "8,16,17", "--no-refine", "--rounds", "3",
                 "--reps", "3"])
    assert code == exit_codes.OK and out.is_file()
    lut = load_lut(out)  # the model itself is timed beside the layer: the scale of its row
    assert lut.reference == "person-ssdlite@1" and lut.layers[small].reference_ms > lut.layers[small].points[-1].ms
    assert main(["profile", "--model", "ghost@1", "--store", str(STORE), "--out", str(out)]) == exit_codes.CONFIG
