"""INT8 through NNCF: a tiny fitted model's stored FP16 IR quantized on the data set's train split loads in
the agent's Detector and counts like its FP16 parent; its manifest says what it is and where it came from."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from agent.detector import Detector
from models.scoring import read_split
from models.store import ModelStore, ModelStoreError, StoredModel
from pruning.checkpoint import load_model
from pruning.cli import main
from pruning.quantize import QuantizeSettings, quantize_variant
from pruning.release import build_manifest, export_to_store
from tests.pruning_fixtures import fitted_checkpoint, synth_voc  # noqa: F401

pytest.importorskip("nncf")
pytestmark = pytest.mark.slow  # a fitted model, NNCF's calibration and two IRs' inference
THRESHOLD = 0.3


@pytest.fixture(scope="module")
def pair(fitted_checkpoint: Path, synth_voc: Path, tmp_path_factory: pytest.TempPathFactory  # noqa: F811
         ) -> tuple[StoredModel, StoredModel]:
    model, config = load_model(fitted_checkpoint)
    store = ModelStore(tmp_path_factory.mktemp("store"))
    parent = export_to_store(model, build_manifest("tiny-ssd", "1", config, fitted_checkpoint, {"test": True}),
                             store)
    settings = QuantizeSettings(source="tiny-ssd@1", version="1-int8", data=synth_voc, subset_size=12,
                                latency_runs=3, progress=False)
    return parent, quantize_variant(store, settings)


def test_int8_manifest_records_precision_calibration_and_figures(pair: tuple[StoredModel, StoredModel]) -> None:
    parent, int8 = pair
    manifest = int8.manifest
    assert manifest.precision == "INT8" and manifest.version == "1-int8"
    assert manifest.provenance.kind == "conversion" and manifest.provenance.parent == "tiny-ssd@1"
    assert ":train (12 of " in manifest.provenance.details["calibration"]
    assert manifest.metrics.map50 is not None and manifest.metrics.count_mae is not None
    assert manifest.metrics.latency_ms["CPU"] > 0 and manifest.metrics.flops == parent.manifest.metrics.flops
    assert "FakeQuantize" in int8.xml.read_text() or 'element_type="i8"' in int8.xml.read_text()
    assert ModelStore(int8.directory.parent.parent).load("tiny-ssd", "1-int8").manifest == manifest


def test_int8_counts_like_its_fp16_parent(pair: tuple[StoredModel, StoredModel], synth_voc: Path) -> None:  # noqa: F811
    parent, int8 = pair
    fp16, quantized = Detector.open(parent, "CPU"), Detector.open(int8, "CPU")
    differences, top = [], []
    for image_id in read_split(synth_voc, "test"):
        frame = cv2.imread(str(synth_voc / "JPEGImages" / f"{image_id}.jpg"))
        a, b = fp16.infer(frame, THRESHOLD), quantized.infer(frame, THRESHOLD)
        differences.append(abs(len(a) - len(b)))
        if len(a) and len(b):
            top.append(abs(float(a.confidence.max()) - float(b.confidence.max())))
    assert top, "the fitted model should detect something above the threshold"
    assert np.mean(differences) <= 1.0 and max(top) < 0.15


def test_existing_version_is_refused_before_any_work(pair: tuple[StoredModel, StoredModel],
                                                     synth_voc: Path) -> None:  # noqa: F811
    _, int8 = pair
    store = ModelStore(int8.directory.parent.parent)
    with pytest.raises(ModelStoreError, match="1-int8"):
        quantize_variant(store, QuantizeSettings(source="tiny-ssd@1", version="1-int8", data=synth_voc))


def test_calibration_frames_are_spread_over_the_split(synth_voc: Path) -> None:  # noqa: F811
    from models.scoring import load_dataset
    from pruning.data.synth import LABEL
    from pruning.data.transforms import to_tensor
    from pruning.quantize import calibration_inputs

    train = load_dataset(synth_voc, "train", {LABEL: 1})
    inputs = list(calibration_inputs(train, (64, 64), 4))
    picked = [round(i * (len(train) - 1) / 3) for i in range(4)]  # first, last and evenly between
    expected = [to_tensor(cv2.imread(str(train[i].image)), (64, 64)).numpy()[None] for i in picked]
    assert len(inputs) == 4 and all(np.array_equal(a, b) for a, b in zip(inputs, expected, strict=True))
    assert len(list(calibration_inputs(train, (64, 64), 1000))) == len(train)


def test_latency_write_records_the_int8_variant(pair: tuple[StoredModel, StoredModel],
                                                capsys: pytest.CaptureFixture[str]) -> None:
    _, int8 = pair
    store = int8.directory.parent.parent
    assert main(["latency", "tiny-ssd@1-int8", "--store", str(store), "--runs", "4", "--rounds", "2",
                 "--write"]) == 0
    measured = json.loads(capsys.readouterr().out)["tiny-ssd@1-int8"]
    manifest = ModelStore(store).load("tiny-ssd", "1-int8").manifest
    assert manifest.metrics.latency_ms["CPU"] == measured
    assert manifest.provenance.details["latency_method"].startswith("median of 2 interleaved rounds")
