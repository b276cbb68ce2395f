"""`headcount-agent count`: check a site before deploying, by running a clip through the agent's counting path.

    headcount-agent count --config FILE [--camera NAME] [--video PATH | --images DIR] [--frames 30,90]
                          [--labels FILE [--part test] [--calibrate]] [--annotate DIR] [--json -]

Prints, per frame, the occupancy as it would be published, the crossing events and the in/out totals;
with hand labels, the count error and in/out recall and precision.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

import cv2
import openvino as ov

from agent import exit_codes
from agent.config import AgentConfig, CameraConfig, ConfigError, load_config
from agent.control import ModelUnusable, prepare_model
from agent.count_path import CountPath, FrameCount
from agent.count_run import (
    CountRun,
    SourceError,
    SourceFrame,
    calibrate,
    count_clip,
    detect_clip,
    image_frames,
    video_frames,
)
from agent.draw import annotate
from agent.redact import redact_source
from models.labels import HandLabels, LabelsError, load_labels, score_counts, score_crossings
from models.manifest import CountingFigures
from models.store import ModelStore, parse_ref, write_manifest

log = logging.getLogger(__name__)

CALIBRATION_THRESHOLDS = [round(0.1 + 0.05 * i, 2) for i in range(15)]  # 0.1 .. 0.8


def frame_list(text: str) -> list[int]:
    """`30,90,150` -> [30, 90, 150]; an argparse type with a clear error."""
    try:
        frames = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected frame numbers separated by commas, got {text!r}") from None
    if not frames or frames[0] < 0:
        raise argparse.ArgumentTypeError(f"expected frame numbers >= 0, got {text!r}")
    return frames


def register(sub: Any) -> None:
    p = sub.add_parser("count", help="run a clip through the counting path; score it against hand labels",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True, help="agent config (TOML): model, tracker, smoothing, camera")
    p.add_argument("--camera", help="camera of the config (default: the first)")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--video", help="a video file (or camera URL) instead of the camera's source")
    source.add_argument("--images", type=Path, help="a folder of images, in name order, instead")
    p.add_argument("--fps", type=float, help="frame rate of --images, or to override the video's")
    p.add_argument("--max-frames", type=int, help="stop after this many frames (live cameras need it)")
    p.add_argument("--model", help="store model NAME@VERSION instead of the config's")
    p.add_argument("--device", default="CPU", help="OpenVINO device (default CPU)")
    p.add_argument("--threshold", type=float, help="count from this score (default: config, then the model's)")
    p.add_argument("--frames", type=frame_list, help="report only these frames, e.g. 30,90,150")
    p.add_argument("--labels", type=Path, help="hand-label file: adds count MAE and in/out recall/precision")
    p.add_argument("--part", choices=["all", "test", "calibration"], default="all",
                   help="which labelled frames to score (test: from the file's test_from_frame on)")
    p.add_argument("--calibrate", action="store_true",
                   help="first choose the threshold with the least count error on the labels' calibration part")
    p.add_argument("--record", action="store_true",
                   help="write the figures (and a calibrated threshold) into the model's manifest in the store")
    p.add_argument("--annotate", type=Path, help="write annotated PNGs of the reported frames here")
    p.add_argument("--json", help="write the JSON report to this file ('-' for stdout)")
    p.set_defaults(func=cmd_count)


def _camera(config: AgentConfig, name: str | None) -> CameraConfig:
    if name is None:
        return config.cameras[0]
    for camera in config.cameras:
        if camera.name == name:
            return camera
    raise ConfigError(f"no camera {name!r} in the config (cameras: {', '.join(c.name for c in config.cameras)})")


def _frames(args: argparse.Namespace, camera: CameraConfig) -> Any:
    if args.images:
        return image_frames(args.images, args.fps or 10.0)
    return video_frames(args.video or camera.source, args.fps, args.max_frames)


def cmd_count(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
        camera = _camera(config, args.camera)
        labels = load_labels(args.labels) if args.labels else None
        return _count(args, config, camera, labels)
    except (ConfigError, LabelsError) as exc:
        print(f"count: {exc}", file=sys.stderr)
        return exit_codes.CONFIG
    except ModelUnusable as exc:
        print(f"count: model: {exc}", file=sys.stderr)
        return exit_codes.CONFIG
    except SourceError as exc:
        print(f"count: {redact_source(args.video or camera.source)}: {exc}", file=sys.stderr)
        return exit_codes.FAILURE


def _count(args: argparse.Namespace, config: AgentConfig, camera: CameraConfig, labels: HandLabels | None) -> int:
    name, version = parse_ref(args.model) if args.model else (config.model.name, config.model.version)
    if args.threshold is not None:
        config.model.score_threshold = args.threshold
    store = ModelStore(config.model.store)
    running, _, _ = prepare_model(store, ov.Core(), config.model, name, version, args.device)
    session = running.detector.session()

    def make_path() -> CountPath:
        return CountPath(camera, config.tracker, config.occupancy, config.model.tiling)

    threshold, calibration = running.threshold, None
    if args.calibrate:
        if labels is None:
            raise LabelsError("--calibrate needs --labels")
        cached = detect_clip(make_path(), session, _frames(args, camera), min(CALIBRATION_THRESHOLDS))
        threshold, errors = calibrate(make_path, cached, labels.part("calibration").counts, running.class_id,
                                      CALIBRATION_THRESHOLDS)
        calibration = {"threshold": threshold, "count_mae_by_threshold": errors}
        print(f"count: calibrated threshold {threshold} on frames < {labels.test_from_frame}", file=sys.stderr)
    writer = _annotator(args.annotate, camera, args.frames)
    run = count_clip(make_path(), session, _frames(args, camera), threshold, running.class_id, writer)
    if run.frames_read == 0:
        raise SourceError("no frames read")
    missing = [f for f in args.frames or [] if f not in run.occupancy]
    if missing:
        print(f"count: --frames beyond the clip's {run.frames_read} frames: {missing[:10]}", file=sys.stderr)
        return exit_codes.USAGE
    report = _report(args, running.detector.manifest.ref, camera, run, threshold, labels, calibration, config)
    if args.record:
        _record(store, name, version, report, args.labels, calibration is not None)
    _print(args, report)
    return exit_codes.OK


def _annotator(folder: Path | None, camera: CameraConfig, frames: list[int] | None) -> Any:
    if folder is None:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    wanted = set(frames) if frames else None

    def write(frame: SourceFrame, counted: FrameCount) -> None:
        if wanted is None or frame.index in wanted:
            result = counted.result
            in_out = (result.in_total, result.out_total) if camera.line else (None, None)
            image = annotate(frame.image, result.people, camera, counted.occupancy, *in_out)
            cv2.imwrite(str(folder / f"frame_{frame.index:06d}.png"), image)

    return write


def _report(args: argparse.Namespace, model: str, camera: CameraConfig, run: CountRun, threshold: float,
            labels: HandLabels | None, calibration: dict | None, config: AgentConfig) -> dict[str, Any]:
    shown = args.frames or sorted(run.occupancy)
    tiling = camera.tiling or config.model.tiling
    report: dict[str, Any] = {
        "camera": camera.name, "source": redact_source(str(args.images or args.video or camera.source)),
        "model": model, "threshold": threshold, "tiling": tiling.model_dump() if tiling else None,
        "occupancy_smoothing": (camera.occupancy or config.occupancy).model_dump(),
        "frames_read": run.frames_read, "occupancy_changes": run.changes(),
        "frames": [{"frame": f, "occupancy": run.occupancy[f], "raw_count": run.raw_count[f]} for f in shown],
        "crossings": run.crossings, "totals": {"in": run.in_total, "out": run.out_total},
    }
    if calibration:
        report["calibration"] = calibration
    if labels is not None:
        report["score"] = score_report(run, labels.part(args.part), args.part)
    return report


def score_report(run: CountRun, labels: HandLabels, part: str) -> dict[str, Any]:
    """Count MAE (published occupancy and raw) and in/out matching against hand labels."""
    occupancy, raw = score_counts(run.occupancy, labels.counts), score_counts(run.raw_count, labels.counts)
    last = max(run.occupancy) if run.occupancy else -1
    crossing_labels = [c for c in labels.crossings if c.frame <= last]
    crossings = score_crossings([(int(c["frame"]), str(c["direction"])) for c in run.crossings
                                 if part == "all" or _in_part(int(c["frame"]), labels, part)], crossing_labels)
    return {
        "part": part, "labelled_frames": occupancy.frames,
        "count_mae": round(occupancy.mae, 4), "count_mae_best": round(occupancy.mae_best, 4),
        "raw_count_mae": round(raw.mae, 4),
        "crossings": {"labelled": crossings.labelled, "counted": crossings.counted, "matched": crossings.matched,
                      "recall": crossings.recall, "precision": crossings.precision,
                      "doubtful": crossings.doubtful, "recall_sure": crossings.recall_sure,
                      "tolerance_frames": crossings.tolerance, "missed_frames": list(crossings.missed),
                      "spurious": [{"frame": f, "direction": d} for f, d in crossings.spurious]},
    }


def _in_part(frame: int, labels: HandLabels, part: str) -> bool:
    return frame >= labels.test_from_frame if part == "test" else frame < labels.test_from_frame


def record_counting(store: ModelStore, name: str, version: str, threshold: float | None,
                    figures: CountingFigures | None) -> None:
    """Put a calibrated threshold and counting figures into a model's manifest (its files unchanged)."""
    stored = store.load(name, version)
    update: dict[str, Any] = {}
    if threshold is not None:
        update["count_threshold"] = threshold
    if figures is not None:
        update["counting"] = figures
    metrics = stored.manifest.metrics.model_copy(update=update)
    write_manifest(stored.xml.parent, stored.manifest.model_copy(update={"metrics": metrics}))


def _record(store: ModelStore, name: str, version: str, report: dict[str, Any], labels: Path | None,
            calibrated: bool) -> None:
    score = report.get("score")
    figures = CountingFigures(
        labels=str(labels), frames=f"{score['part']} part, {score['labelled_frames']} labelled frames",
        count_mae=score["count_mae"], crossings_recall=score["crossings"]["recall"],
        crossings_precision=score["crossings"]["precision"],
        settings={k: report[k] for k in ("threshold", "tiling", "occupancy_smoothing")}) if score else None
    record_counting(store, name, version, report["threshold"] if calibrated else None, figures)


def _print(args: argparse.Namespace, report: dict[str, Any]) -> None:
    text = json.dumps(report, indent=1)
    if args.json == "-":
        print(text)
    elif args.json:
        Path(args.json).write_text(text + "\n")
    if args.json != "-":
        summary = {k: report[k] for k in ("model", "threshold", "frames_read", "occupancy_changes", "totals")}
        print(json.dumps(dict(summary, score=report.get("score")), indent=1))
