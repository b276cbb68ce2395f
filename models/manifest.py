"""The model store's one contract: the manifest that travels with every IR variant.

`pruning/` writes manifests, `agent/` reads them. Nothing else is shared between the two sides, so
everything the agent needs to run a model (input layout, preprocessing, output format, labels) and
everything an operator needs to choose one (accuracy, latency, provenance) lives here.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from models.base import StrictModel

SCHEMA_VERSION = 1
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
"""Model names and versions: one path component, no separators, cannot start with a dot."""

OutputFormat = Literal["detection_output", "tf_od_api"]
Precision = Literal["FP32", "FP16", "INT8"]


class _Strict(StrictModel):
    """Every manifest model is strict (`models.base`)."""


class InputSpec(_Strict):
    """What the network expects on its single image input."""

    name: str = Field(description="Tensor name of the image input.")
    shape: list[int] = Field(description="Static input shape, e.g. [1, 3, 300, 300] or [1, 300, 300, 3].")
    layout: Literal["NCHW", "NHWC"] = Field(description="Layout of `shape`.")
    element_type: Literal["u8", "f32"] = Field(description="Element type the network takes on its input.")
    color: Literal["RGB", "BGR"] = Field(description="Channel order the network was trained on.")
    mean: list[float] = Field(
        default_factory=lambda: [0.0, 0.0, 0.0],
        description="Per-channel value subtracted from each pixel: x' = (x - mean) * scale.",
    )
    scale: list[float] = Field(
        default_factory=lambda: [1.0, 1.0, 1.0],
        description="Per-channel multiplier applied after the mean: x' = (x - mean) * scale.",
    )

    @property
    def height(self) -> int:
        return self.shape[2] if self.layout == "NCHW" else self.shape[1]

    @property
    def width(self) -> int:
        return self.shape[3] if self.layout == "NCHW" else self.shape[2]


class FileDigest(_Strict):
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the file, lowercase hex.")
    bytes: int = Field(ge=0, description="File size in bytes.")


class Provenance(_Strict):
    """Where a variant came from, so that any figure in the store can be traced back."""

    kind: Literal["package", "training", "pruning", "conversion"] = Field(
        description="How the variant was made."
    )
    source: str = Field(description="Registry package, checkpoint or run the weights come from.")
    parent: str | None = Field(default=None, description="`name@version` of the model it was derived from.")
    method: str | None = Field(default=None, description="Training or pruning method, e.g. 'cluster'.")
    details: dict[str, Any] = Field(
        default_factory=dict,
        description="Free-form facts: target, LUT, filters per layer, training data, commands.",
    )


class CountingFigures(_Strict):
    """What `headcount-agent count --labels` measured: occupancy and in/out against hand labels."""

    labels: str = Field(description="Hand-label file the figures are measured against.")
    frames: str = Field(description="Which labelled frames were scored, e.g. 'test part (frames >= 556)'.")
    count_mae: float = Field(ge=0, description="Mean absolute error of the published occupancy per labelled frame.")
    crossings_recall: float | None = Field(
        default=None, description="Labelled crossings counted in the right direction (fraction).")
    crossings_precision: float | None = Field(
        default=None, description="Counted crossings that match a labelled one (fraction).")
    settings: dict[str, Any] = Field(
        default_factory=dict, description="Threshold, tiling and smoothing the figures were measured with.")


class Metrics(_Strict):
    """Measured figures; None where not measured. Never estimated silently."""

    map50: float | None = Field(default=None, description="mAP@0.5 (VOC-style) on `eval_dataset`.")
    coco_ap50: float | None = Field(default=None, description="COCO-style AP50 on `eval_dataset`.")
    count_mae: float | None = Field(default=None, description="Mean absolute count error per image.")
    eval_dataset: str | None = Field(default=None, description="Dataset the accuracy figures refer to.")
    flops: float | None = Field(default=None, description="Multiply-accumulates x 2 per inference.")
    params: int | None = Field(default=None, description="Number of parameters.")
    latency_ms: dict[str, float] = Field(
        default_factory=dict, description="Median batch-1 latency per device, e.g. {'CPU': 6.1}."
    )
    count_threshold: float | None = Field(
        default=None, ge=0.0, le=1.0,
        description="Score threshold that minimised the count error on the calibration frames; the agent counts "
        "with it unless its config sets `model.score_threshold`.",
    )
    counting: CountingFigures | None = Field(
        default=None, description="Counting measured through the agent's counting path against hand labels.",
    )


class Manifest(_Strict):
    """`models/<name>/<version>/manifest.json`."""

    schema_version: int = Field(default=SCHEMA_VERSION, description="Manifest schema version.")
    name: str = Field(pattern=NAME_PATTERN, description="Model name, e.g. 'person-ssdlite'.")
    version: str = Field(pattern=NAME_PATTERN, description="Version within the name, e.g. '1' or 'cp-2x'.")
    architecture: str = Field(description="Network family, e.g. 'ssdlite-mobilenet-v2'.")
    labels: dict[int, str] = Field(description="Class id as the output reports it -> label name.")
    input: InputSpec
    output_format: OutputFormat = Field(
        description="'detection_output' ([1,1,N,7]) or 'tf_od_api' (boxes, scores, classes, num)."
    )
    precision: Precision = Field(description="Weight precision stored in model.bin.")
    files: dict[str, FileDigest] = Field(description="Digest of model.xml and model.bin.")
    provenance: Provenance
    metrics: Metrics = Field(default_factory=Metrics)
    opsets: list[str] = Field(default_factory=list, description="Opsets the IR uses.")
    runs_on_openvino_2022_3: bool | None = Field(
        default=None, description="Whether OpenVINO 2022.3 (last MYRIAD release) knows all the IR's ops."
    )
    created: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    def label_id(self, label: str) -> int | None:
        """Class id of `label`, or None when the model does not know it."""
        for class_id, name in self.labels.items():
            if name == label:
                return class_id
        return None


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def digest_file(path: Path) -> FileDigest:
    return FileDigest(sha256=sha256_file(path), bytes=path.stat().st_size)
