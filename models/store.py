"""The model store: `<root>/<name>/<version>/{model.xml, model.bin, manifest.json}`.

Models are addressed by name and version only. Both are validated as single path components and the
resolved directory must stay inside the root, so nothing read from a config or a command can escape
the store.
"""

from __future__ import annotations

import json
import re
import shutil
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from models.manifest import NAME_PATTERN, Manifest, digest_file

MODEL_XML = "model.xml"
MODEL_BIN = "model.bin"
MANIFEST = "manifest.json"
OPSETS_OF_OPENVINO_2022_3 = {f"opset{i}" for i in range(1, 11)}
"""OpenVINO 2022.3 LTS, the last release with the MYRIAD (NCS2) plugin, knows opset1..opset10."""

_NAME_RE = re.compile(NAME_PATTERN)


class ModelStoreError(Exception):
    """Base class: a model cannot be used. The message names the model and the problem."""


class ModelNotFound(ModelStoreError):
    pass


class InvalidManifest(ModelStoreError):
    pass


class ChecksumMismatch(ModelStoreError):
    pass


@dataclass(frozen=True)
class StoredModel:
    """A verified variant: its manifest and the paths of its IR files."""

    manifest: Manifest
    directory: Path

    @property
    def xml(self) -> Path:
        return self.directory / MODEL_XML

    @property
    def bin(self) -> Path:
        return self.directory / MODEL_BIN


def parse_ref(ref: str) -> tuple[str, str]:
    """Split `name@version` into its parts, validating both."""
    name, sep, version = ref.partition("@")
    if not sep:
        raise ModelStoreError(f"model reference {ref!r} is not of the form NAME@VERSION")
    check_component("model name", name)
    check_component("model version", version)
    return name, version


def check_component(what: str, value: str) -> str:
    if not isinstance(value, str) or not _NAME_RE.match(value):
        raise ModelStoreError(
            f"{what} {value!r} is not allowed: use 1-64 letters, digits, '.', '_' or '-', "
            "not starting with '.' (no paths)"
        )
    return value


class ModelStore:
    """Read and write variants under one root directory."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def directory(self, name: str, version: str) -> Path:
        check_component("model name", name)
        check_component("model version", version)
        root = self.root.resolve()
        path = (root / name / version).resolve()
        if root not in path.parents:
            raise ModelStoreError(f"model {name}@{version} resolves outside the store {root}")
        return path

    def refs(self) -> list[tuple[str, str]]:
        """All `(name, version)` pairs that have a manifest, sorted."""
        if not self.root.is_dir():
            return []
        found = []
        for manifest in sorted(self.root.glob(f"*/*/{MANIFEST}")):
            name, version = manifest.parent.parent.name, manifest.parent.name
            if _NAME_RE.match(name) and _NAME_RE.match(version):
                found.append((name, version))
        return found

    def read_manifest(self, name: str, version: str) -> Manifest:
        directory = self.directory(name, version)
        path = directory / MANIFEST
        if not path.is_file():
            known = ", ".join(f"{n}@{v}" for n, v in self.refs()) or "none"
            raise ModelNotFound(f"model {name}@{version} not found in store {self.root} (known: {known})")
        try:
            manifest = Manifest.model_validate_json(path.read_text())
        except (ValidationError, ValueError) as exc:
            raise InvalidManifest(f"{path}: invalid manifest: {exc}") from exc
        if (manifest.name, manifest.version) != (name, version):
            raise InvalidManifest(
                f"{path}: manifest says {manifest.ref} but lies in {name}/{version}"
            )
        return manifest

    def load(self, name: str, version: str, verify: bool = True) -> StoredModel:
        """The variant's manifest and files; with `verify`, refuse files that do not match it."""
        manifest = self.read_manifest(name, version)
        model = StoredModel(manifest, self.directory(name, version))
        if verify:
            verify_files(model)
        return model

    def check_free(self, name: str, version: str, overwrite: bool = False) -> None:
        """Raise unless `name@version` may be written: absent, or `overwrite`."""
        if self.directory(name, version).exists() and not overwrite:
            raise ModelStoreError(f"model {name}@{version} already exists in {self.root}")

    def write(self, manifest: Manifest, xml: Path, overwrite: bool = False) -> StoredModel:
        """Copy an IR (xml + bin beside it) into the store and write its manifest with fresh digests."""
        self.check_free(manifest.name, manifest.version, overwrite)
        target = self.directory(manifest.name, manifest.version)
        target.mkdir(parents=True, exist_ok=True)
        xml = Path(xml)
        if xml.resolve() != (target / MODEL_XML).resolve():
            shutil.copyfile(xml, target / MODEL_XML)
            shutil.copyfile(xml.with_suffix(".bin"), target / MODEL_BIN)
        opsets = ir_opsets(target / MODEL_XML)
        final = manifest.model_copy(
            update={
                "files": {
                    MODEL_XML: digest_file(target / MODEL_XML),
                    MODEL_BIN: digest_file(target / MODEL_BIN),
                },
                "opsets": opsets,
                "runs_on_openvino_2022_3": set(opsets) <= OPSETS_OF_OPENVINO_2022_3,
            }
        )
        write_manifest(target, final)
        return StoredModel(final, target)


def write_manifest(directory: Path, manifest: Manifest) -> None:
    """Write atomically, so a crash never leaves half a manifest."""
    tmp = directory / (MANIFEST + ".tmp")
    tmp.write_text(manifest.model_dump_json(indent=2) + "\n")
    tmp.replace(directory / MANIFEST)


def verify_files(model: StoredModel) -> None:
    for filename in (MODEL_XML, MODEL_BIN):
        path = model.directory / filename
        expected = model.manifest.files.get(filename)
        if expected is None:
            raise InvalidManifest(f"{model.manifest.ref}: manifest lists no digest for {filename}")
        if not path.is_file():
            raise ModelNotFound(f"{model.manifest.ref}: {path} is missing")
        actual = digest_file(path)
        if actual.sha256 != expected.sha256:
            raise ChecksumMismatch(
                f"{model.manifest.ref}: {filename} does not match its manifest "
                f"(sha256 {actual.sha256[:12]}..., expected {expected.sha256[:12]}...); refusing to load it"
            )


def ir_opsets(xml: Path) -> list[str]:
    """Opsets named by the layers of an IR, e.g. ['opset1', 'opset8']."""
    versions = {layer.get("version", "") for layer in ET.parse(xml).getroot().iter("layer")}
    return sorted((v for v in versions if v), key=lambda v: (len(v), v))


def manifest_json_schema() -> str:
    return json.dumps(Manifest.model_json_schema(), indent=2)
