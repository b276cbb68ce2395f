"""`headcount-prune`: commands end to end on tiny inputs, and distinct exit codes for bad inputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from models.layer_spec import ModelSpec
from models.store import ModelStore
from pruning.cli import EXIT_DATA, EXIT_MODEL, EXIT_OK, EXIT_STORE, main
from tests.pruning_fixtures import fitted_checkpoint, synth_voc  # noqa: F401


def test_synth_images_and_video(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["synth", "images", "--out", str(tmp_path / "voc"), "--count", "4"]) == EXIT_OK
    assert json.loads(capsys.readouterr().out) == {"train": 3, "test": 1, "all": 4}
    assert main(["synth", "video", "--out", str(tmp_path / "v.avi"), "--count", "20", "--people", "2"]) == EXIT_OK
    assert (tmp_path / "v.json").is_file()


def test_malformed_annotation_exits_with_data_error(synth_voc: Path, tmp_path: Path,  # noqa: F811
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad"
    (bad / "Annotations").mkdir(parents=True)
    (bad / "Annotations" / "x.xml").write_text("<annotation><size>")
    (bad / "ImageSets" / "Main").mkdir(parents=True)
    (bad / "ImageSets" / "Main" / "train.txt").write_text("x\n")
    code = main(["train", "--data", str(bad), "--out", str(tmp_path / "run"), "--arch", "ssd-squeezenet",
                 "--input-size", "128", "--width-mult", "0.25", "--max-steps", "1"])
    assert code == EXIT_DATA
    assert "x.xml" in capsys.readouterr().err


def test_missing_checkpoint_and_unknown_model(synth_voc: Path, tmp_path: Path) -> None:  # noqa: F811
    assert main(["eval", "--data", str(synth_voc), "--checkpoint", str(tmp_path / "none.pt")]) == EXIT_MODEL
    assert main(["eval", "--data", str(synth_voc), "--model", "nope@1", "--store", str(tmp_path)]) == EXIT_STORE


def test_spec_eval_and_export(fitted_checkpoint: Path, synth_voc: Path, tmp_path: Path,  # noqa: F811
                              capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["spec", "--checkpoint", str(fitted_checkpoint), "--out", str(tmp_path / "spec.json")]) == EXIT_OK
    spec = ModelSpec.model_validate_json((tmp_path / "spec.json").read_text())
    assert spec.input_size == (128, 128) and spec.layers[0].name == "backbone.stem"
    capsys.readouterr()
    assert main(["eval", "--data", str(synth_voc), "--checkpoint", str(fitted_checkpoint)]) == EXIT_OK
    report = json.loads(capsys.readouterr().out)
    assert report["images"] == 6 and report["flops"] > 0 and 0 <= report["map50"] <= 1
    store = tmp_path / "store"
    assert main(["export", "--checkpoint", str(fitted_checkpoint), "--name", "tiny", "--store", str(store),
                 "--data", str(synth_voc), "--latency-runs", "3",
                 "--weights-out", str(tmp_path / "w.pt")]) == EXIT_OK
    manifest = ModelStore(store).load("tiny", "1").manifest
    assert manifest.metrics.map50 is not None and manifest.metrics.latency_ms["CPU"] > 0
    assert manifest.metrics.flops == report["flops"] and manifest.metrics.params == report["params"]
    assert manifest.provenance.details["training"]["epochs"] == 4
    assert (tmp_path / "w.pt").stat().st_size < fitted_checkpoint.stat().st_size
    capsys.readouterr()
    assert main(["latency", "tiny@1", "--store", str(store), "--runs", "4", "--rounds", "2", "--write"]) == EXIT_OK
    measured = json.loads(capsys.readouterr().out)["tiny@1"]
    assert ModelStore(store).load("tiny", "1").manifest.metrics.latency_ms["CPU"] == measured
