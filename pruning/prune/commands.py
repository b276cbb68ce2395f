"""`headcount-prune prune`, `variant` and `report`: arguments and handlers (merged into `pruning.commands`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Callable, Literal, get_args, get_origin

from pruning.device import add_device_args


def _floats(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of numbers: {text!r}") from None


def _add_prune(p: argparse.ArgumentParser) -> None:
    from pruning.prune.records import PruneSettings

    def option(name: str, **kwargs: object) -> None:
        """An option for a `PruneSettings` field: its description and default are the help, its Literal
        values the choices (one source); left unset, the field's default applies."""
        field = PruneSettings.model_fields[name]
        if get_origin(field.annotation) is Literal:
            kwargs.setdefault("choices", list(get_args(field.annotation)))
        default = field.get_default(call_default_factory=True)
        shown = "" if field.is_required() or default in (None, []) else f" (default {default})"
        p.add_argument(f"--{name.replace('_', '-')}", help=f"{field.description}{shown}",
                       required=field.is_required(), **kwargs)  # type: ignore[arg-type]

    option("checkpoint", type=Path)
    option("data", type=Path)
    option("out", type=Path)
    option("method")
    option("lut", type=Path)
    option("cluster_size", type=int)
    option("filters_per_step", type=int)
    option("importance")
    option("sensitivity")
    option("stepless")
    option("taylor_batches", type=int)
    option("target_speedup", type=float)
    option("target_latency_ms", type=float)
    option("max_map_drop", type=float)
    option("snapshots", type=_floats)
    p.add_argument("--finish-snapshots", action="store_true", help="final fine-tune of every snapshot too")
    p.add_argument("--snap-final", action="store_true", help=PruneSettings.model_fields["snap_final"].description)
    for name in ("finetune_every", "finetune_steps", "final_finetune_steps", "batch_size", "val_every",
                 "val_images", "min_width", "max_steps", "max_rollbacks", "measure_runs", "seed", "threads",
                 "loss_images"):
        option(name, type=int)
    for name in ("distill", "lr", "min_keep", "latency_weight", "latency_weight_final"):
        option(name, type=float)
    add_device_args(p)  # not a run setting: a run may resume on another device
    p.set_defaults(run=_run_prune)


def _run_prune(args: argparse.Namespace) -> int:
    from pruning.prune.greedy import Pruner, finish_snapshots
    from pruning.prune.records import PruneSettings

    fields = {k: v for k, v in vars(args).items() if k in PruneSettings.model_fields and v is not None}
    pruner = Pruner(PruneSettings(**fields))
    pruner.ft.device, pruner.ft.amp = str(args.device), args.amp  # fine-tunes there; Taylor and validation on CPU
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
    from pruning.release import ReleaseSettings

    settings = ReleaseSettings(name=args.name, version=args.version, data=args.data, split=args.split,
                               latency_runs=args.latency_runs, overwrite=args.overwrite)
    stored = export_variant(args.run_dir, ModelStore(args.store), settings, args.source, args.parent)
    print(summary_line(stored))
    return 0


def _add_report(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bench", type=Path, action="append", required=True,
                   help="`headcount-agent bench --json` of all variants (repeatable: medians over the runs)")
    p.add_argument("--store", type=Path, default=Path("models"))
    p.add_argument("--lut", action="append", default=[], metavar="ARCH=PATH",
                   help="LUT per architecture, for latency per layer before/after (repeatable)")
    p.add_argument("--out", type=Path, default=Path("docs/pruning-report.md"), help="Markdown; PNGs beside it")
    p.add_argument("--spec", action="append", default=[], metavar="ARCH=PATH",
                   help="layer spec per architecture (headcount-prune spec): the LUT estimate counts a pruned "
                   "consumer's overlap once (repeatable)")
    p.add_argument("--budget-ms", type=float, action="append", default=[],
                   help="name the most accurate variant per architecture within this latency (repeatable)")
    p.add_argument("--check-rounds", type=int, default=0,
                   help="also time every parent with its variants as the profiler times a LUT (the LUT's thread "
                   "count, N shuffled rounds, lower quartile of per-round minima): the LUT estimate on its own scale")
    p.set_defaults(run=_run_report)


def _by_arch(items: list[str], flag: str) -> dict[str, Path]:
    if bad := [item for item in items if "=" not in item]:
        raise ValueError(f"{flag} {bad[0]!r}: expected ARCH=PATH")
    return {arch: Path(path) for arch, path in (item.split("=", 1) for item in items)}


def _run_report(args: argparse.Namespace) -> int:
    from pruning.prune.report import write_report

    luts, specs = (_by_arch(items, flag) for items, flag in ((args.lut, "--lut"), (args.spec, "--spec")))
    written = write_report(args.bench, args.store, luts, args.out, args.check_rounds, specs, tuple(args.budget_ms))
    print(json.dumps([str(p) for p in written]))
    return 0


def _add_quantize(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="store reference of the FP16 parent, e.g. ssd-mobilenet@1")
    p.add_argument("--version", required=True, help="version of the INT8 variant (same name), e.g. 1-int8")
    p.add_argument("--data", type=Path, required=True, help="VOC dataset: calibration and figures")
    p.add_argument("--calibration-split", default="train", help="split calibrated on: the site's frames")
    p.add_argument("--subset-size", type=int, default=300, help="calibration images, evenly spaced")
    p.add_argument("--split", default="test", help="split the mAP and count MAE are measured on")
    p.add_argument("--preset", choices=["performance", "mixed"], default="performance", help="NNCF preset")
    p.add_argument("--latency-runs", type=int, default=100)
    p.add_argument("--store", type=Path, default=Path("models"))
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(run=_run_quantize)


def _run_quantize(args: argparse.Namespace) -> int:
    from models.store import ModelStore
    from pruning.prune.variants import summary_line
    from pruning.quantize import QuantizeSettings, quantize_variant

    settings = QuantizeSettings(source=args.model, version=args.version, data=args.data,
                                calibration_split=args.calibration_split, subset_size=args.subset_size,
                                split=args.split, preset=args.preset, latency_runs=args.latency_runs,
                                overwrite=args.overwrite)
    print(summary_line(quantize_variant(ModelStore(args.store), settings)))
    return 0


def _add_calibrate_lut(p: argparse.ArgumentParser) -> None:
    from pruning.prune.calibrate import DEFAULT_KEEPS

    p.add_argument("--lut", type=Path, required=True, help="the LUT (`headcount-agent profile --reference`)")
    p.add_argument("--checkpoint", type=Path, required=True, help="the parent the LUT was profiled for")
    p.add_argument("--spec", type=Path, required=True, help="its layer spec (`headcount-prune spec`)")
    p.add_argument("--keep", type=_floats, default=list(DEFAULT_KEEPS),
                   help="fractions of every layer's filters the uniform variants keep "
                   f"(default {','.join(map(str, DEFAULT_KEEPS))})")
    p.add_argument("--rounds", type=int, default=7, help="rounds of turns; each point is their median (default 7)")
    p.add_argument("--runs", type=int, default=60, help="timed inferences per model per round (default 60)")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", type=Path,
                       help="time the cuts in turns with the parent now and write the calibrated LUT here (a new "
                       "file: runs record the sha256 of the LUT they used)")
    where.add_argument("--store", type=Path,
                       help="instead, write the cuts into this model store as NAME@uniform-KEEP beside --parent, "
                       "for `headcount-agent bench` to time with the variants; `report` then fits the "
                       "calibration from that bench")
    p.add_argument("--parent", help="with --store: the stored parent, NAME@VERSION (the checkpoint's IR)")
    p.add_argument("--overwrite", action="store_true", help="with --store: replace cuts already stored")
    p.set_defaults(run=_run_calibrate_lut)


def _run_calibrate_lut(args: argparse.Namespace) -> int:
    from models.layer_spec import read_spec
    from models.lut import save_lut
    from pruning.prune.calibrate import calibrate
    from pruning.prune.lut import LayerLatency

    spec = read_spec(args.spec)
    lut = LayerLatency.load(args.lut, spec).lut
    if args.store is not None:
        from models.store import ModelStore
        from pruning.prune.calibrate import export_uniform

        if not args.parent:
            raise ValueError("--store needs --parent NAME@VERSION: the stored model the cuts are timed against")
        stored = export_uniform(args.checkpoint, lut, spec, ModelStore(args.store), args.parent, args.keep,
                                args.overwrite)
        print(json.dumps({"stored": [s.manifest.ref for s in stored], "parent": args.parent}))
        return 0
    if args.parent or args.overwrite:
        raise ValueError("--parent and --overwrite go with --store (--out writes a new LUT file)")
    calibration = calibrate(args.checkpoint, lut, spec, args.keep, args.rounds, args.runs)
    save_lut(lut.model_copy(update={"calibration": calibration}), args.out)
    print(json.dumps({"scale": round(calibration.scale, 4), "points": [p.model_dump() for p in calibration.points],
                      "lut": str(args.out)}))
    return 0


REGISTRY: dict[str, Callable[[argparse.ArgumentParser], None]] = {
    "prune": _add_prune, "variant": _add_variant, "report": _add_report, "quantize": _add_quantize,
    "calibrate-lut": _add_calibrate_lut}
HELP = {
    "prune": "greedy filter pruning (LUT clusters, conventional or hybrid), fine-tuned, logged, resumable",
    "variant": "export a pruned checkpoint into the model store with figures and pruning provenance",
    "report": "Markdown + PNG: mAP vs latency, each method's Pareto front, best within a budget, per-layer latency",
    "quantize": "INT8 variant of a stored model: NNCF post-training quantization calibrated on the site's frames",
    "calibrate-lut": "time uniformly pruned variants beside their parent: scale the LUT's savings to whole models",
}
