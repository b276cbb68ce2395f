"""Width replicas: a variant's layer widths cut from its parent, for timing beside newer variants.

A network's latency depends on its layer widths, not on its weights (the premise of the LUT and of
`calibrate-lut`), so a variant whose IR is gone (run stores are not committed) can be timed again from
the widths its committed manifest records. Each replica keeps the first `w` filters of every prunable
layer of the parent checkpoint (`surgery.prune_to_widths`, no fine-tuning), is exported as the
variant's release path exports (`pruning.export.save_ir`, FP16), and goes into a run store under the
variant's own version with the committed manifest's figures (mAP, counts) and provenance,
`details.width_replica` saying what it is.
Its accuracy as a network is not the variant's: only its latency stands for it.

    .venv/bin/python docs/pruning-fronts/conventional-front/replica.py --store runs/v17/store \
        docs/pruning-fronts/deep-pair/manifests/h43-end.manifest.json ...
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from models.manifest import Manifest
from models.store import ModelStore
from pruning.checkpoint import load_model
from pruning.export import save_ir
from pruning.prune.surgery import groups_of, prune_to_widths

ROOT = Path(__file__).resolve().parents[3]
CHECKPOINTS = {"ssdlite-mobilenet-v2": ROOT / "pruning" / "checkpoints" / "ssd-mobilenet.pt"}


def replicate(manifest_path: Path, store: ModelStore) -> str:
    manifest = Manifest.model_validate_json(manifest_path.read_text())
    details = manifest.provenance.details
    widths: dict[str, int] = details["filters_per_layer"]
    model, config = load_model(CHECKPOINTS[manifest.architecture])
    original = {n: g.width for n, g in groups_of(model, config.arch).items()}
    if original != details["unpruned_filters_per_layer"]:
        raise ValueError(f"{manifest_path}: its parent's widths are not {CHECKPOINTS[manifest.architecture]}'s")
    cut = prune_to_widths(model, config.arch, widths)
    assert all(cut[n] == w for n, w in widths.items()), "the replica's widths differ from the manifest's"
    note = (f"width replica for timing: the first filters of every layer of {CHECKPOINTS[manifest.architecture].name} "
            f"cut to the widths of {manifest_path.name}, no fine-tuning; its figures are the variant's, its "
            "weights are not")
    copied = manifest.model_copy(update={"provenance": manifest.provenance.model_copy(
        update={"details": {**details, "width_replica": note}})})
    with tempfile.TemporaryDirectory() as tmp:
        stored = store.write(copied, save_ir(model, Path(tmp) / "model.xml"), overwrite=True)
    return f"{stored.manifest.name}@{stored.manifest.version}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("manifests", type=Path, nargs="+")
    args = parser.parse_args()
    store = ModelStore(args.store)
    for path in args.manifests:
        print(replicate(path, store))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
