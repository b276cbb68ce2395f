"""Model store: the manifest schema and the variants (see `models.manifest`, `models.store`)."""

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
