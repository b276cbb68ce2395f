"""The contracts between the two halves, and the model store.

What both halves agree on lives here and only here: the manifest that travels with every IR
(`models.manifest`) and the store (`models.store`), the latency LUT (`models.lut`) and layer spec
(`models.layer_spec`), the bench report (`models.bench`), the scoring of detections against Pascal VOC
truth (`models.scoring`) and the strict pydantic base (`models.base`).

The import rule (checked by tests/test_import_seam.py):
- `models` imports neither `agent` nor `pruning` (nor torch): both halves import it.
- `agent` never imports `pruning` or torch: it runs on factory PCs with OpenVINO only.
- `pruning` may import from `agent` only the inference code it runs IRs through (`agent.detector`,
  `agent.detections`, `agent.tiling`, `agent.timing`, and the profiler's statistic `agent.profile.timing`
  for the report's LUT check), so a variant is scored and timed exactly as the device will run it and
  as its LUT was measured. That is the one arrow across the seam.
"""

from models.manifest import Manifest, Metrics, Provenance
from models.store import (
    ChecksumMismatch,
    InvalidManifest,
    ModelNotFound,
    ModelStore,
    ModelStoreError,
    StoredModel,
    parse_ref,
)

DEFAULT_STORE = "models"
"""Store root relative to the repository (the agent's config names its own)."""

__all__ = [
    "ChecksumMismatch",
    "DEFAULT_STORE",
    "InvalidManifest",
    "Manifest",
    "Metrics",
    "ModelNotFound",
    "ModelStore",
    "ModelStoreError",
    "Provenance",
    "StoredModel",
    "parse_ref",
]
