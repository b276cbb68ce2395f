"""INT8 variants: NNCF post-training quantization of a stored IR, calibrated on the site's own frames.

OpenVINO's usual deployment route on CPUs and NPUs: the stored FP16 IR (parent) is quantized by NNCF
(`nncf.quantize`, OpenVINO backend: FakeQuantize before every convolution, INT8 weights), calibrated on
the train split of the site's data set (what the camera sees), preprocessed exactly as the IR expects
(`pruning.data.transforms.to_tensor`: RGB, (x - 127.5) * 0.007843, the manifest's declared input).
`DetectionOutput` and the softmax before it stay in floating point (NNCF leaves ops without weights
alone). The result is a store entry of its own: precision INT8, provenance kind `conversion` with the
parent, NNCF's settings and the calibration set, and figures measured through the agent's `Detector`
(mAP@0.5, count MAE on the test split) and `agent.timing` (latency).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np

from models.manifest import Manifest, Metrics, Provenance
from models.scoring import Annotation, load_dataset
from models.store import MODEL_XML, ModelStore, StoredModel, parse_ref
from pruning.data.transforms import to_tensor


@dataclass(frozen=True)
class QuantizeSettings:
    """Which stored model becomes which INT8 version, calibrated and measured on what."""

    source: str
    """`name@version` of the FP16 parent in the store."""
    version: str
    """Version of the INT8 variant (same name), e.g. `1-int8`."""
    data: Path
    """VOC data set: `calibration_split` calibrates, `split` measures."""
    calibration_split: str = "train"
    subset_size: int = 300
    """Calibration images (NNCF's subset_size); fewer when the split has fewer."""
    split: str = "test"
    preset: Literal["performance", "mixed"] = "performance"
    """NNCF preset: symmetric activations (performance) or asymmetric (mixed)."""
    count_threshold: float = 0.5
    latency_runs: int = 100
    device: str = "CPU"
    overwrite: bool = False
    progress: bool = True


def calibration_inputs(annotations: list[Annotation], size: tuple[int, int], limit: int) -> Iterator[np.ndarray]:
    """[1, 3, H, W] float32 inputs of the IR for `limit` images evenly spaced over the split (all if fewer)."""
    count = min(limit, len(annotations))
    for index in np.linspace(0, len(annotations) - 1, count).round().astype(int) if count else []:
        annotation = annotations[index]
        image = cv2.imread(str(annotation.image))
        if image is None:
            raise ValueError(f"{annotation.image}: cannot read the calibration image")
        yield to_tensor(image, size).numpy()[None]


def quantize_ir(xml: Path, inputs: list[np.ndarray], preset: str = "performance") -> Any:
    """NNCF post-training quantization of the IR at `xml`; an `openvino.Model` with INT8 convolutions."""
    import nncf
    import openvino as ov

    model = ov.Core().read_model(xml)
    return nncf.quantize(model, nncf.Dataset(inputs), subset_size=len(inputs),
                         preset=nncf.QuantizationPreset(preset))


def _figures(staged: StoredModel, settings: QuantizeSettings, annotations: list[Annotation],
             metrics: Metrics) -> Metrics:
    """Accuracy through the agent's `Detector` and latency through `agent.timing`, on the staged IR."""
    from agent.detector import Detector
    from agent.timing import ir_latency_ms
    from pruning.evaluate import DetectorPredictor, evaluate

    labels = dict(staged.manifest.labels)
    predictor = DetectorPredictor(Detector.open(staged, settings.device), {v: k for k, v in labels.items()})
    report = evaluate(annotations, predictor, labels, settings.count_threshold, settings.progress)
    update: dict[str, Any] = {"map50": report.map50, "coco_ap50": report.coco_ap50, "count_mae": report.count_mae,
                              "eval_dataset": f"{settings.data}:{settings.split} ({report.images} images)"}
    if settings.latency_runs:
        ms = round(ir_latency_ms(staged.xml, settings.device, settings.latency_runs), 3)
        update["latency_ms"] = {settings.device: ms}
    return metrics.model_copy(update=update)


def int8_manifest(parent: Manifest, settings: QuantizeSettings, calibration: str) -> Manifest:
    """The parent's manifest as an INT8 conversion of it (figures still to measure)."""
    import nncf

    details = {"tool": f"nncf {nncf.__version__}", "algorithm": "post-training quantization (nncf.quantize)",
               "preset": settings.preset, "calibration": calibration,
               "preprocessing": "as the manifest's input declares (RGB, (x - 127.5) * 0.007843)",
               "parent_provenance": {"kind": parent.provenance.kind, "method": parent.provenance.method,
                                     "parent": parent.provenance.parent},
               "count_threshold": "carried over from the parent" if parent.metrics.count_threshold else None}
    metrics = Metrics(flops=parent.metrics.flops, params=parent.metrics.params,
                      count_threshold=parent.metrics.count_threshold)
    return parent.model_copy(update={
        "version": settings.version, "precision": "INT8", "files": {}, "metrics": metrics,
        "provenance": Provenance(kind="conversion", source=f"{settings.source} (model.xml sha256 "
                                 f"{parent.files['model.xml'].sha256[:16]})" if "model.xml" in parent.files
                                 else settings.source, parent=settings.source, method="nncf-ptq-int8",
                                 details=details)})


def quantize_variant(store: ModelStore, settings: QuantizeSettings) -> StoredModel:
    """Quantize `settings.source`, measure the INT8 IR, write it and its manifest into the store once."""
    import openvino as ov

    name, version = parse_ref(settings.source)
    parent = store.load(name, version)
    store.check_free(name, settings.version, settings.overwrite)
    class_map = {label: cid for cid, label in parent.manifest.labels.items()}
    calibration = load_dataset(settings.data, settings.calibration_split, class_map)
    test = load_dataset(settings.data, settings.split, class_map)  # read before the work: bad data fails fast
    if not calibration:
        raise ValueError(f"{settings.data}: split {settings.calibration_split!r} has no images to calibrate on")
    height, width = parent.manifest.input.shape[2:]
    inputs = list(calibration_inputs(calibration, (height, width), settings.subset_size))
    quantized = quantize_ir(parent.xml, inputs, settings.preset)
    manifest = int8_manifest(parent.manifest, settings, f"{settings.data}:{settings.calibration_split} "
                             f"({len(inputs)} of {len(calibration)} images, evenly spaced)")
    with tempfile.TemporaryDirectory() as tmp:
        xml = Path(tmp) / MODEL_XML
        ov.save_model(quantized, str(xml), compress_to_fp16=False)
        metrics = _figures(StoredModel(manifest, Path(tmp)), settings, test, manifest.metrics)
        return store.write(manifest.model_copy(update={"metrics": metrics}), xml, overwrite=settings.overwrite)
