"""`headcount-agent profile` on this CPU: graphs, spec errors, LUT resume and the real latency steps."""

from __future__ import annotations

import json
from pathlib import Path

import openvino as ov
import pytest

from agent import exit_codes
from agent.cli import main
from agent.profile.graphs import build_layer_model, conv_pair_spec
from agent.profile.spec_io import SpecError, load_spec, profiled_layers
from agent.profile.sweep import SweepSettings, profile_spec
from agent.profile.timing import Timer, TimingSettings
from models.layer_spec import LayerSpec, ModelSpec
from models.lut import LutError, load_lut

FAST = TimingSettings(warmup=2, rounds=5, reps=8)


def block_spec() -> ModelSpec:
    """expand 1x1 -> depthwise 3x3 s2 -> project 1x1, plus a head reading the expansion at another size."""
    return ModelSpec(model="tiny-block", input_size=(16, 16), layers=[
        LayerSpec(name="expand", kind="pointwise", in_channels=8, out_channels=32, kernel=1, input_size=(16, 16),
                  consumers=["dw", "head"]),
        LayerSpec(name="dw", kind="depthwise", in_channels=32, out_channels=32, kernel=3, stride=2, padding=1,
                  groups=32, input_size=(16, 16), consumers=["project"], group="expand"),
        LayerSpec(name="project", kind="pointwise", in_channels=32, out_channels=16, kernel=1, input_size=(8, 8)),
        LayerSpec(name="head", kind="conv", in_channels=32, out_channels=6, kernel=3, padding=1,
                  input_size=(8, 8), prunable=False),
    ])


@pytest.fixture(scope="module")
def core() -> ov.Core:
    return ov.Core()


def test_layer_model_shrinks_consumers(core: ov.Core) -> None:
    spec = block_spec()
    model = build_layer_model(spec, spec.layer("expand"), kept=20)
    shapes = sorted(tuple(out.get_shape()) for out in model.outputs)
    assert shapes == [(1, 6, 8, 8), (1, 16, 8, 8)]
    # The head reads the expansion at another size (a pooling in between): it gets its own input.
    assert sorted(tuple(p.get_shape()) for p in model.get_parameters()) == [(1, 8, 16, 16), (1, 20, 8, 8)]
    convs = {op.get_type_name(): op for op in model.get_ordered_ops()}
    assert tuple(convs["GroupConvolution"].get_output_shape(0)) == (1, 20, 8, 8)
    core.compile_model(model, "CPU")


@pytest.mark.parametrize(("int8", "precision"), [(False, "f32"), (True, "u8")])
def test_int8_layer_models_run_int8_convolutions(core: ov.Core, int8: bool, precision: str) -> None:
    """With int8 the CPU plugin's execution graph runs every convolution on quantized inputs."""
    spec = conv_pair_spec()
    model = build_layer_model(spec, spec.layer("conv"), kept=48, int8=int8)
    compiled = core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    convs = [op.get_rt_info() for op in compiled.get_runtime_model().get_ordered_ops()
             if op.get_rt_info()["layerType"].astype(str) == "Convolution"]
    assert len(convs) == 2 and {c["runtimePrecision"].astype(str) for c in convs} == {precision}


def test_kept_filters_out_of_range() -> None:
    spec = block_spec()
    with pytest.raises(ValueError, match="kept filters 33 outside 1..32"):
        build_layer_model(spec, spec.layer("expand"), kept=33)


def test_profiled_layers_skip_depthwise_and_frozen() -> None:
    assert [layer.name for layer in profiled_layers(block_spec())] == ["expand", "project"]


@pytest.mark.parametrize(
    ("text", "message"),
    [("{not json", r"spec.json: not JSON \(line 1"),
     (json.dumps({"model": "m", "input_size": [8, 8], "layers": [{"name": "a", "kind": "conv"}]}),
      r"spec.json: invalid layer spec: layers.0.in_channels: Field required"),
     (json.dumps({"model": "m", "input_size": [8, 8], "layers": [
         {"name": "a", "kind": "conv", "in_channels": 3, "out_channels": 4, "kernel": 3, "input_size": [8, 8],
          "consumers": ["ghost"]}]}), r"layers.0 \(a\): consumers: unknown layer 'ghost'")],
    ids=["not-json", "missing-field", "unknown-consumer"],
)
def test_malformed_spec_names_file_and_field(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "spec.json"
    path.write_text(text)
    with pytest.raises(SpecError, match=message):
        load_spec(path)
    assert main(["profile", "--spec", str(path), "--out", str(tmp_path / "lut.json")]) == exit_codes.CONFIG


def test_cli_rejects_unknown_layer_and_device(tmp_path: Path) -> None:
    out = str(tmp_path / "lut.json")
    assert main(["profile", "--conv-pair", "--layers", "nope", "--out", out]) == exit_codes.CONFIG
    assert main(["profile", "--conv-pair", "--device", "NOPE", "--out", out]) == exit_codes.CONFIG
    with pytest.raises(SystemExit) as usage:
        main(["profile", "--conv-pair", "--stride", "0", "--out", out])
    assert usage.value.code == exit_codes.USAGE


def test_budget_stop_and_resume(tmp_path: Path, core: ov.Core) -> None:
    spec, out = block_spec(), tmp_path / "lut.json"
    settings = SweepSettings(counts=(4, 8, 16), refine=False)
    lines: list[str] = []
    first = profile_spec(Timer(core, "CPU", FAST), spec, out, settings, budget_s=1e-6, progress=lines.append)
    assert not first.complete and first.missing == ["project"]
    assert "budget" in lines[-1] and "resume" in lines[-1]
    expand_seconds = load_lut(out).layers["expand"].seconds
    second = profile_spec(Timer(core, "CPU", FAST), spec, out, settings, progress=lambda _: None)
    assert second.complete and set(second.layers) == {"expand", "project"}
    assert second.layers["expand"].seconds == expand_seconds  # resumed, not measured again
    assert [p.filters for p in second.layers["project"].points] == [4, 8, 16]
    assert second.elapsed_s >= first.elapsed_s
    only = profile_spec(Timer(core, "CPU", FAST), spec, tmp_path / "only.json", settings, only=["project"],
                        progress=lambda _: None)
    assert list(only.layers) == ["project"] and only.missing == ["expand"]
    with pytest.raises(LutError, match="another settings"):
        profile_spec(Timer(core, "CPU", FAST), spec, out, SweepSettings(counts=(4, 8)), progress=lambda _: None)


def test_conv_pair_steps_on_this_cpu(tmp_path: Path, core: ov.Core) -> None:
    """The reference layer (3x3 conv 128 -> c -> 64, 38x38) steps only on multiples of 16 on this CPU.

    This machine (AVX-512, bf16) steps after 48 and 64 filters; an AVX2 machine would step every 8.
    Nothing in the code assumes either. A neighbour's load can drown a step, and the detector then rightly
    claims none there, so the test asks for at least one step (up to three sweeps) and for no step off the
    hardware's grid; the period when both are seen. That both show on a quiet machine is measured in
    docs/measuring.md, not asserted here (CI shares its cores).
    """
    counts = (40, 44, 47, 48, 49, 52, 56, 60, 63, 64, 65, 68)
    if "BF16" not in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
        pytest.skip("AVX2/f32 CPU: latency dips at every multiple of 8 (48 < 47 < 49) instead of stepping up, "
                    "which the step detector does not recognise yet (see docs/measuring.md)")
    for attempt in range(3):
        out = tmp_path / f"lut{attempt}.json"
        lut = profile_spec(Timer(core, "CPU", TimingSettings(rounds=7, reps=10)), conv_pair_spec(), out,
                           SweepSettings(counts=counts), progress=lambda _: None)
        layer = lut.layers["conv"]
        if layer.step_boundaries:
            break
    assert layer.step_boundaries, "no step found in three sweeps"
    assert set(layer.step_boundaries) <= {48, 64}, layer.step_boundaries
    step = layer.step_boundaries[0]
    assert layer.latency_ms(step + 1) > layer.latency_ms(step)
    assert layer.step_period in (None, 16)
    assert lut.threads == "1" and lut.streams == "1" and lut.precision
    assert load_lut(out) == lut


def test_squeezenet_spec_with_concat_readers_builds_graphs() -> None:
    """Fire modules: expand1x1 and expand3x3 feed the next squeeze together; each is timed alone."""
    from agent.profile.graphs import build_layer_model
    from agent.profile.spec_io import load_spec, profiled_layers

    spec = load_spec(Path(__file__).resolve().parents[1] / "pruning" / "checkpoints" / "ssd-squeezenet.spec.json")
    expand = next(layer for layer in profiled_layers(spec) if layer.name.endswith("expand3x3"))
    assert all("@" in c for c in expand.consumers)
    model = build_layer_model(spec, expand, kept=expand.out_channels // 2)
    assert len(model.get_ordered_ops()) > 3


def test_reference_model_timed_beside_every_layer(tmp_path: Path, core: ov.Core) -> None:
    """`--reference IR.xml`: every row gets the whole model's latency from its own rounds, the LUT names it,
    and a table measured without a reference is not resumed with one."""
    spec = block_spec()
    xml = tmp_path / "whole.xml"
    ov.save_model(build_layer_model(spec, spec.layer("expand"), kept=32), xml)  # stands in for the whole model
    out = tmp_path / "lut.json"
    args = ["profile", "--spec", str(_spec_file(tmp_path, spec)), "--counts", "8,16,32", "--no-refine",
            "--rounds", "3", "--reps", "4"]
    assert main([*args, "--reference", str(xml), "--out", str(out)]) == exit_codes.OK
    lut = load_lut(out)
    assert lut.reference == str(xml) and lut.settings["reference"] == str(xml)
    assert all(layer.reference_ms and layer.reference_ms > 0 for layer in lut.layers.values())
    plain = tmp_path / "plain.json"
    assert main([*args, "--out", str(plain)]) == exit_codes.OK
    assert load_lut(plain).reference is None and all(v.reference_ms is None for v in load_lut(plain).layers.values())
    assert main([*args, "--reference", str(xml), "--out", str(plain)]) == exit_codes.CONFIG  # other settings
    assert main([*args, "--reference", str(tmp_path / "missing.xml"), "--out", str(out)]) == exit_codes.CONFIG


def _spec_file(tmp_path: Path, spec: ModelSpec) -> Path:
    path = tmp_path / "spec.json"
    path.write_text(spec.model_dump_json())
    return path
