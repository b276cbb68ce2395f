"""`headcount-prune prune`, `variant` and `report`: arguments and handlers (merged into `pruning.commands`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Callable


def _floats(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of numbers: {text!r}") from None


def _add_prune(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", type=Path, required=True, help="parent (unpruned) checkpoint")
    p.add_argument("--data", type=Path, required=True, help="VOC dataset (train split: fine-tune + validation)")
    p.add_argument("--out", type=Path, required=True, help="run directory (resumed if it holds a run)")
    p.add_argument("--method", choices=["cluster", "filter"], default="cluster",
                   help="cluster: LUT-step clusters; filter: conventional, one at a time by global rank")
    p.add_argument("--lut", type=Path, help="lut.json of `headcount-agent profile` for this model's spec")
    p.add_argument("--cluster-size", type=int, help="fixed cluster size when there is no LUT")
    p.add_argument("--filters-per-step", type=int, default=16, help="conventional: filters removed per step")
    p.add_argument("--importance", choices=["l1", "l2", "taylor"], default="l2")
    p.add_argument("--target-speedup", type=float)
    p.add_argument("--target-latency-ms", type=float)
    p.add_argument("--max-map-drop", type=float, help="stop (and roll back) beyond this validation mAP drop, points")
    p.add_argument("--snapshots", type=_floats, default=[], help="speedups to keep copies at, e.g. 1.25,1.5")
    p.add_argument("--finish-snapshots", action="store_true", help="final fine-tune of every snapshot too")
    p.add_argument("--finetune-every", type=int, default=5)
    p.add_argument("--finetune-steps", type=int, default=10)
    p.add_argument("--final-finetune-steps", type=int, default=100)
    p.add_argument("--distill", type=float, default=0.0,
                   help="weight of distillation from the parent in every fine-tune (0: the labels alone)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--val-every", type=int, default=5, help="every N-th train image is held out for validation")
    p.add_argument("--val-images", type=int, default=60)
    p.add_argument("--min-width", type=int, default=8)
    p.add_argument("--min-keep", type=float, default=0.0, help="fraction of its unpruned width every layer keeps")
    p.add_argument("--max-steps", type=int, default=1000)
    p.add_argument("--measure-runs", type=int, default=30, help="IR latency runs at each evaluation (0: never)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.set_defaults(run=_run_prune)


def _run_prune(args: argparse.Namespace) -> int:
    from pruning.prune.greedy import Pruner, finish_snapshots
    from pruning.prune.records import PruneSettings

    fields = {k: v for k, v in vars(args).items() if k in PruneSettings.model_fields and v is not None}
    pruner = Pruner(PruneSettings(**fields))
    final = pruner.run()
    if args.finish_snapshots:
        finish_snapshots(pruner)
    print((final.parent / "summary.json").read_text())
    return 0


def _add_variant(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run", dest="run_dir", type=Path, required=True, help="pruning run directory")
    p.add_argument("--from", dest="source", default="final.pt", help="checkpoint in the run (e.g. snap-1.5x-final.pt)")
    p.add_argument("--name", required=True, help="store model name, e.g. ssd-mobilenet")
    p.add_argument("--version", required=True, help="e.g. cp-1.5x or fp-1.5x")
    p.add_argument("--parent", help="store reference of the parent, e.g. ssd-mobilenet@1")
    p.add_argument("--data", type=Path, help="VOC dataset for mAP and count MAE through the IR")
    p.add_argument("--split", default="test")
    p.add_argument("--latency-runs", type=int, default=100)
    p.add_argument("--store", type=Path, default=Path("models"))
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(run=_run_variant)


def _run_variant(args: argparse.Namespace) -> int:
    from models.store import ModelStore
    from pruning.prune.variants import export_variant, summary_line

    stored = export_variant(args.run_dir, args.name, args.version, ModelStore(args.store), args.data, args.source,
                            args.split, args.latency_runs, args.parent, args.overwrite)
    print(summary_line(stored))
    return 0


def _add_report(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bench", type=Path, required=True, help="`headcount-agent bench --json` of all variants")
    p.add_argument("--store", type=Path, default=Path("models"))
    p.add_argument("--lut", action="append", default=[], metavar="ARCH=PATH",
                   help="LUT per architecture, for latency per layer before/after (repeatable)")
    p.add_argument("--out", type=Path, default=Path("docs/pruning-report.md"), help="Markdown; PNGs beside it")
    p.add_argument("--check-runs", type=int, default=0,
                   help="also time every variant against its parent with one thread (the LUT's scale), N runs")
    p.set_defaults(run=_run_report)


def _run_report(args: argparse.Namespace) -> int:
    from pruning.prune.report import write_report

    luts = dict(item.split("=", 1) for item in args.lut)
    written = write_report(args.bench, args.store, {k: Path(v) for k, v in luts.items()}, args.out,
                           args.check_runs)
    print(json.dumps([str(p) for p in written]))
    return 0


REGISTRY: dict[str, Callable[[argparse.ArgumentParser], None]] = {
    "prune": _add_prune, "variant": _add_variant, "report": _add_report}
HELP = {
    "prune": "greedy filter pruning (LUT clusters or conventional), fine-tuned, logged, resumable",
    "variant": "export a pruned checkpoint into the model store with figures and pruning provenance",
    "report": "Markdown + PNG: mAP vs measured latency, cluster vs conventional vs unpruned, per-layer latency",
}
