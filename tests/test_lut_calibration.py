"""A LUT calibrated on whole models: the scale of its points, the estimate it scales, and `calibrate-lut` on a
tiny model timed for real (OpenVINO on this CPU)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from models.lut import (
    LUT_SCHEMA_VERSION,
    MAX_SAVED_FRACTION,
    CalibrationPoint,
    Lut,
    LutCalibration,
    LutError,
    load_lut,
    save_lut,
)
from pruning import checkpoint
from pruning.cli import EXIT_STORE
from pruning.cli import main as prune_main
from pruning.prune.calibrate import calibrate, prune_uniformly
from pruning.prune.lut import LutMismatch
from pruning.prune.surgery import groups_of
from pruning.structure import build_graph, to_spec
from tests.pruning_fixtures import ARCHS, tiny_config, tiny_model
from tests.test_lut_overlap import UNIT, bilinear_lut, chain, macs, with_reference
from tests.test_prune_hybrid import period_lut


def calibration(*pairs: tuple[float, float]) -> LutCalibration:
    points = [CalibrationPoint(keep=0.5, lut_fraction=lut, measured_fraction=measured) for lut, measured in pairs]
    return LutCalibration(parent="parent.pt", points=points, rounds=1, runs=1, threads=2)


@pytest.mark.parametrize(("pairs", "scale"), [
    ([(0.2, 0.24), (0.5, 0.6)], 1.2),          # the whole model saves 1.2x what the rows say
    ([(0.4, 0.4)], 1.0),
    ([(0.3, 0.27), (0.6, 0.54)], 0.9),
])
def test_scale_is_the_least_squares_ratio_of_its_points(pairs: list[tuple[float, float]], scale: float) -> None:
    assert calibration(*pairs).scale == pytest.approx(scale)


def test_apply_never_saves_more_than_the_cap() -> None:
    assert calibration((0.5, 0.75)).apply(0.2) == pytest.approx(0.3)
    assert calibration((0.5, 0.75)).apply(0.9) == MAX_SAVED_FRACTION


@pytest.mark.parametrize("point", [
    {"keep": 0.0, "lut_fraction": 0.2, "measured_fraction": 0.2},
    {"keep": 1.0, "lut_fraction": 0.2, "measured_fraction": 0.2},
    {"keep": 0.5, "lut_fraction": 1.2, "measured_fraction": 0.2},
    {"keep": 0.5, "lut_fraction": 0.2, "measured_fraction": 1.0},
])
def test_bad_points_are_refused(point: dict[str, float]) -> None:
    with pytest.raises(ValidationError):
        CalibrationPoint(**point)


@pytest.mark.parametrize(("measured", "plausible"), [(0.05, False), (0.9, False), (0.45, True)])
def test_a_scale_only_noise_explains_is_flagged(measured: float, plausible: bool) -> None:
    assert calibration((0.4, measured)).plausible == plausible


@pytest.mark.parametrize("measured", [0.0, -0.2])
def test_a_calibration_that_saved_nothing_is_refused(measured: float) -> None:
    with pytest.raises(ValidationError, match="saved nothing"):
        calibration((0.4, measured))


def test_a_calibration_needs_points() -> None:
    with pytest.raises(ValidationError, match="points"):
        LutCalibration(parent="p", points=[], rounds=1, runs=1, threads=None)


@pytest.mark.parametrize("with_references", [True, False])
def test_estimate_scales_the_rows_saving_and_nothing_else(with_references: bool) -> None:
    spec = chain()
    base = bilinear_lut(spec)
    original = {name: base.layers[name].out_channels for name in base.layers}
    widths = {**original, "a": 28, "b": 24}
    whole = UNIT * macs(spec, original)
    lut = with_reference(base, whole) if with_references else base
    plain = lut.estimate_ms(whole, original, widths, spec)
    calibrated = lut.model_copy(update={"calibration": calibration((0.5, 0.6))})
    assert calibrated.estimate_ms(whole, original, widths, spec) == pytest.approx(whole - 1.2 * (whole - plain))
    assert calibrated.saved_fraction(original, widths, spec) == lut.saved_fraction(original, widths, spec)
    assert calibrated.estimate_ms(whole, original, original, spec) == pytest.approx(whole)


def test_a_calibrated_lut_round_trips(tmp_path: Path) -> None:
    lut = bilinear_lut(chain()).model_copy(update={"calibration": calibration((0.5, 0.6))})
    save_lut(lut, tmp_path / "lut.json")
    assert load_lut(tmp_path / "lut.json").calibration == lut.calibration


def test_a_lut_is_written_in_the_current_format_and_older_ones_still_load(tmp_path: Path) -> None:
    old = bilinear_lut(chain()).model_copy(update={"schema_version": 1})
    (tmp_path / "old.json").write_text(old.model_dump_json())
    assert load_lut(tmp_path / "old.json").schema_version == 1
    save_lut(old, tmp_path / "new.json")
    assert json.loads((tmp_path / "new.json").read_text())["schema_version"] == LUT_SCHEMA_VERSION


@pytest.mark.parametrize("unknown", [{}, {"renamed": 1}])
def test_a_lut_from_a_newer_format_names_its_version(tmp_path: Path, unknown: dict[str, int]) -> None:
    data = {**json.loads(bilinear_lut(chain()).model_dump_json()), "schema_version": LUT_SCHEMA_VERSION + 1,
            **unknown}
    (tmp_path / "lut.json").write_text(json.dumps(data))
    with pytest.raises(LutError, match=f"format version {LUT_SCHEMA_VERSION + 1}, newer than this checkout"):
        load_lut(tmp_path / "lut.json")


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("keep", [0.75, 0.5, 0.3])
def test_uniform_pruning_keeps_the_same_fraction_of_every_layer(arch: str, keep: float) -> None:
    model = tiny_model(arch)
    before = {n: g.width for n, g in groups_of(model, arch).items()}
    after = prune_uniformly(model, arch, keep, min_width=4)
    assert after == {n: min(w, max(4, round(w * keep))) for n, w in before.items()}


@pytest.mark.parametrize("keep", [0.0, 1.0, 1.5])
def test_uniform_pruning_refuses_a_keep_outside_0_1(keep: float) -> None:
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        prune_uniformly(tiny_model(), "ssd-mobilenet", keep)


def referenced_lut() -> Lut:
    """The tiny SSD-MobileNet's hand LUT, every row with a reference model (as `profile --reference` writes)."""
    lut = period_lut(8).lut
    whole = sum(row.latency_ms(row.out_channels) for row in lut.layers.values())
    return lut.model_copy(update={"layers": {n: row.model_copy(update={"reference_ms": whole})
                                             for n, row in lut.layers.items()}})


@pytest.fixture(scope="module")
def parent(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("calibrate") / "parent.pt"
    checkpoint.save(path, tiny_model(), tiny_config())
    return path


def test_calibrate_times_uniform_variants_for_real(parent: Path) -> None:
    lut = referenced_lut()
    spec = to_spec(build_graph(tiny_model(), "ssd-mobilenet"), "ssd-mobilenet")
    lines: list[str] = []
    result = calibrate(parent, lut, spec, keeps=(0.5, 0.25), rounds=2, runs=10, progress=lines.append)
    assert [p.keep for p in result.points] == [0.5, 0.25]
    assert result.points[0].lut_fraction < result.points[1].lut_fraction
    assert all(-1 < p.measured_fraction < 1 for p in result.points)  # timed for real: no sign asserted
    assert (result.rounds, result.runs, result.threads, result.parent) == (2, 10, 1, str(parent))
    assert sum(line.startswith("round ") for line in lines) == 2


def test_calibrate_names_a_layer_the_lut_lacks(parent: Path) -> None:
    lut = referenced_lut()
    missing = "backbone.blocks.1.expand"
    lut.layers.pop(missing)
    spec = to_spec(build_graph(tiny_model(), "ssd-mobilenet"), "ssd-mobilenet")
    with pytest.raises(LutMismatch, match=f"layer {missing}.*not in the LUT"):
        calibrate(parent, lut, spec, keeps=(0.5,), rounds=1, runs=1)


def test_calibrate_needs_rows_with_a_reference(parent: Path) -> None:
    spec = to_spec(build_graph(tiny_model(), "ssd-mobilenet"), "ssd-mobilenet")
    with pytest.raises(LutMismatch, match="no reference model.*--reference"):
        calibrate(parent, period_lut(8).lut, spec, keeps=(0.5,), rounds=1, runs=1)


def test_calibrate_refuses_a_spec_for_another_input_size(parent: Path) -> None:
    spec = to_spec(build_graph(tiny_model(), "ssd-mobilenet"), "ssd-mobilenet")
    other = spec.model_copy(update={"input_size": (300, 300)})
    with pytest.raises(LutMismatch, match=r"takes \(128, 128\) input, the spec .* \(300, 300\)"):
        calibrate(parent, referenced_lut(), other, keeps=(0.5,), rounds=1, runs=1)


def test_calibrate_lut_command_adds_the_calibration_and_keeps_the_rows(parent: Path, tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    lut, spec = referenced_lut(), to_spec(build_graph(tiny_model(), "ssd-mobilenet"), "ssd-mobilenet")
    save_lut(lut, tmp_path / "lut.json")
    (tmp_path / "spec.json").write_text(spec.model_dump_json())
    args = ["calibrate-lut", "--lut", str(tmp_path / "lut.json"), "--checkpoint", str(parent),
            "--spec", str(tmp_path / "spec.json"), "--keep", "0.25", "--rounds", "1", "--runs", "10"]
    assert prune_main([*args, "--out", str(tmp_path / "calibrated.json")]) == 0
    written = load_lut(tmp_path / "calibrated.json")
    assert written.layers == lut.layers and written.calibration is not None
    assert json.loads(capsys.readouterr().out)["scale"] == pytest.approx(written.calibration.scale, abs=1e-4)
    assert load_lut(tmp_path / "lut.json").calibration is None  # --out leaves the source as it was
    assert prune_main([*args, "--keep", "1.5", "--out", str(tmp_path / "never.json")]) == 1
    assert "strictly between 0 and 1" in capsys.readouterr().err


def test_calibrate_lut_store_writes_the_cuts_beside_their_parent(parent: Path, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """`--store`: the cuts go into the store for the bench, with the widths and the rows' saving the report
    fits from; they load like any variant (files verified) and say they are not for counting."""
    from models.store import ModelStore, write_manifest
    from pruning.release import build_manifest

    store = ModelStore(tmp_path / "store")  # the parent's manifest is all the cuts need of it
    store.directory("m", "1").mkdir(parents=True)
    write_manifest(store.directory("m", "1"), build_manifest("m", "1", checkpoint.load_model(parent)[1], parent, {}))
    lut, spec = referenced_lut(), to_spec(build_graph(tiny_model(), "ssd-mobilenet"), "ssd-mobilenet")
    save_lut(lut, tmp_path / "lut.json")
    (tmp_path / "spec.json").write_text(spec.model_dump_json())
    args = ["calibrate-lut", "--lut", str(tmp_path / "lut.json"), "--checkpoint", str(parent),
            "--spec", str(tmp_path / "spec.json"), "--keep", "0.5,0.25", "--store", str(store.root)]
    assert prune_main([*args, "--parent", "m@1"]) == 0
    assert json.loads(capsys.readouterr().out)["stored"] == ["m@uniform-0.5", "m@uniform-0.25"]
    original = {n: g.width for n, g in groups_of(tiny_model(), "ssd-mobilenet").items()}
    for keep in (0.5, 0.25):
        prov = store.load("m", f"uniform-{keep:g}").manifest.provenance
        assert (prov.kind, prov.method, prov.parent) == ("pruning", "uniform", "m@1")
        assert prov.details["keep"] == keep and prov.details["unpruned_filters_per_layer"] == original
        assert prov.details["filters_per_layer"] == prune_uniformly(tiny_model(), "ssd-mobilenet", keep)
        assert prov.details["lut"]["saved_fraction"] == pytest.approx(
            lut.saved_fraction(original, prov.details["filters_per_layer"], spec), abs=1e-4)
        assert "do not deploy" in prov.details["role"]
    assert prune_main([*args, "--parent", "m@1"]) == EXIT_STORE  # taken
    assert "m@uniform-0.5 already exists" in capsys.readouterr().err
    assert prune_main([*args, "--parent", "m@1", "--overwrite", "--keep", "0.25"]) == 0
    assert prune_main([*args, "--parent", "m@2"]) == EXIT_STORE
    assert "model m@2 not found" in capsys.readouterr().err
    assert prune_main(args) == 1
    assert "--store needs --parent NAME@VERSION" in capsys.readouterr().err
    out = [*args[:-2], "--out", str(tmp_path / "never.json")]
    assert prune_main([*out, "--parent", "m@1"]) == 1
    assert "--parent and --overwrite go with --store" in capsys.readouterr().err


def line(*pairs: tuple[float, float]) -> LutCalibration:
    """A linear calibration from pruned variants' (rows' fraction, measured fraction) points."""
    points = [CalibrationPoint(variant=f"m@v{i}", lut_fraction=f, measured_fraction=m)
              for i, (f, m) in enumerate(pairs)]
    return LutCalibration(parent="m@1", points=points, rounds=6, runs=300, threads=2, shape="linear")


def test_a_linear_calibration_follows_the_ratio_and_holds_it_at_the_ends() -> None:
    """measured / rows = 0.8 + 0.4 f at f = 0.2, 0.5, 0.7; outside that range the end's ratio."""
    cal = line(*((f, f * (0.8 + 0.4 * f)) for f in (0.2, 0.5, 0.7)))
    assert cal.factor(0.5) == pytest.approx(1.0) and cal.apply(0.5) == pytest.approx(0.5)
    assert cal.factor(0.9) == pytest.approx(0.8 + 0.4 * 0.7) and cal.factor(0.05) == pytest.approx(0.88)
    assert cal.apply(0.95) == MAX_SAVED_FRACTION


def test_a_linear_calibration_needs_two_fractions_and_a_positive_line() -> None:
    with pytest.raises(ValidationError, match="two rows' fractions"):
        line((0.4, 0.4), (0.4, 0.5))
    with pytest.raises(ValidationError, match="falls to 0 or below"):
        line((0.1, 0.5), (0.2, 0.8), (0.7, -0.1))


@pytest.mark.parametrize("point", [{}, {"keep": 0.5, "variant": "m@v"}])
def test_a_point_is_a_cut_or_a_variant(point: dict[str, object]) -> None:
    with pytest.raises(ValidationError, match="one of them"):
        CalibrationPoint(lut_fraction=0.2, measured_fraction=0.2, **point)


def test_a_linear_calibration_round_trips_in_the_current_format(tmp_path: Path) -> None:
    lut = bilinear_lut(chain()).model_copy(update={"calibration": line((0.2, 0.18), (0.6, 0.63))})
    save_lut(lut, tmp_path / "lut.json")
    assert load_lut(tmp_path / "lut.json").calibration == lut.calibration
    assert json.loads((tmp_path / "lut.json").read_text())["schema_version"] == LUT_SCHEMA_VERSION == 3


def test_a_calibration_says_what_it_does() -> None:
    assert calibration((0.5, 0.6)).describe() == "x 1.200"
    assert line(*((f, f * (0.8 + 0.4 * f)) for f in (0.2, 0.7))).describe() == \
        "x (0.800 + 0.400 f), f held within 0.20-0.70"
