"""The strict pydantic base every edge model shares: config, manifests, LUTs, bench reports, MQTT payloads."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """Rejects unknown fields, so a misspelt key in a file or payload is an error, not a silent default.

    Subclasses add to this config (e.g. `ConfigDict(populate_by_name=True)`); pydantic merges it.
    """

    model_config = ConfigDict(extra="forbid")
