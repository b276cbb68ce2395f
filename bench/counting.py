"""Counting against hand labels: which model, threshold, tiling and smoothing count people right.

For every model x tiling, the clip's detections are computed once at a low score floor; the counting path
(zone, tracker, line, smoothing) is then replayed at each threshold and smoothing window. The threshold
is calibrated on the labelled frames before the labels' `test_from_frame`; every figure printed is on
the test part (count) or on the whole clip (crossings, occupancy changes). Finally the deployed config
(`--config`, the demo's by default) is run exactly as the agent runs it, frame by frame.

    .venv/bin/python bench/counting.py --models person-ssdlite@1 ssd-mobilenet@1 --tiling none 2x2 \
        --windows 0 1 1.5 2 --holds 0 0.5 --json docs/evidence/counting.json

Columns: count MAE (published occupancy vs the labelled range) on the calibration frames (where choices
are made) and on the test frames, raw MAE (per-frame count, test frames),
in/out recall over every labelled crossing and over the ones the labeller was sure of, precision
(crossings matched by direction within 10 frames), occupancy changes per second of video.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import openvino as ov

from agent.config import AgentConfig, OccupancyConfig, TilingConfig, load_config
from agent.control import prepare_model
from agent.count_cli import CALIBRATION_THRESHOLDS, record_counting, score_report
from agent.count_path import CountPath
from agent.count_run import CountRun, calibrate, count_clip, detect_clip, replay, video_frames
from models.labels import HandLabels, load_labels
from models.manifest import CountingFigures
from models.store import ModelStore, parse_ref

ROOT = Path(__file__).resolve().parents[1]
FPS = 10.0


def tiling(text: str) -> TilingConfig | None:
    if text == "none":
        return None
    rows, cols = (int(p) for p in text.split("x"))
    return TilingConfig(rows=rows, cols=cols)


def row(name: str, run: CountRun, labels: HandLabels, **settings: Any) -> dict[str, Any]:
    test = score_report(run, labels.part("test"), "test")
    tuning = score_report(run, labels.part("calibration"), "calibration")
    whole = score_report(run, labels, "all")
    seconds = run.frames_read / FPS
    return dict(settings, name=name, count_mae=test["count_mae"], count_mae_best=test["count_mae_best"],
                raw_count_mae=test["raw_count_mae"], test_frames=test["labelled_frames"],
                calibration_count_mae=tuning["count_mae"],
                crossings=whole["crossings"], in_total=run.in_total, out_total=run.out_total,
                changes_per_s=round(run.changes() / seconds, 3))


def candidates(args: argparse.Namespace, config: AgentConfig, labels: HandLabels, store: ModelStore,
               core: ov.Core) -> list[dict[str, Any]]:
    camera = config.cameras[0]
    rows = []
    for ref in args.models:
        running, _, _ = prepare_model(store, core, config.model, *parse_ref(ref), "CPU")
        for tiles_text in args.tiling:
            tiles = tiling(tiles_text)

            def make_path(window: float = 1.5, hold: float = 0.5, tiles: TilingConfig | None = tiles) -> CountPath:
                occupancy = OccupancyConfig(window_s=window, hold_s=hold, statistic="median" if window else "last")
                return CountPath(camera, config.tracker, occupancy, tiles)

            print(f"{ref} tiling {tiles_text}: detecting ...", file=sys.stderr, flush=True)
            cached = detect_clip(make_path(), running.detector.session(),
                                 video_frames(args.video or camera.source), min(CALIBRATION_THRESHOLDS))
            best, _ = calibrate(make_path, cached, labels.part("calibration").counts, running.class_id,
                                CALIBRATION_THRESHOLDS)
            for threshold in sorted({0.5, best}):
                for window, hold in [(w, h) for w in args.windows for h in args.holds if w or not h]:
                    run = replay(lambda w=window, h=hold: make_path(w, h), cached, threshold, running.class_id)
                    rows.append(row(ref, run, labels, tiling=tiles_text, threshold=threshold, window_s=window,
                                    hold_s=hold, calibrated=threshold == best))
                    print(_line(rows[-1]), file=sys.stderr, flush=True)
    return rows


def record(store: ModelStore, rows: list[dict[str, Any]], labels: Path, smoothing: OccupancyConfig) -> list[str]:
    """Write each model's calibrated threshold, and its figures at the deployed smoothing, into its manifest."""
    written = []
    for r in rows:
        if r["tiling"] != "none" or not r["calibrated"] or (r["window_s"], r["hold_s"]) != (
                smoothing.window_s, smoothing.hold_s):
            continue
        figures = CountingFigures(
            labels=str(labels.relative_to(ROOT) if labels.is_relative_to(ROOT) else labels),
            frames=f"test part, {r['test_frames']} labelled frames (crossings: whole clip)",
            count_mae=r["count_mae"], crossings_recall=r["crossings"]["recall"],
            crossings_precision=r["crossings"]["precision"],
            settings={"threshold": r["threshold"], "tiling": None, "window_s": r["window_s"], "hold_s": r["hold_s"],
                      "measured_by": "bench/counting.py"})
        record_counting(store, *parse_ref(r["name"]), r["threshold"], figures)
        written.append(r["name"])
    return written


def deployed(args: argparse.Namespace, config: AgentConfig, labels: HandLabels, store: ModelStore,
             core: ov.Core) -> dict[str, Any]:
    """The config as the agent runs it: its model, threshold (config or manifest), tiling, smoothing."""
    camera = config.cameras[0]
    running, _, _ = prepare_model(store, core, config.model, config.model.name, config.model.version, "CPU")
    path = CountPath(camera, config.tracker, config.occupancy, config.model.tiling)
    run = count_clip(path, running.detector.session(), video_frames(args.video or camera.source),
                     running.threshold, running.class_id)
    tiles = camera.tiling or config.model.tiling
    smoothing = camera.occupancy or config.occupancy
    return row(running.detector.manifest.ref, run, labels, tiling=f"{tiles.rows}x{tiles.cols}" if tiles else "none",
               threshold=running.threshold, window_s=smoothing.window_s, hold_s=smoothing.hold_s,
               config=str(args.config))


def _line(r: dict[str, Any]) -> str:
    c = r["crossings"]
    rec = "-" if c["recall"] is None else f"{c['recall']:.2f}"
    sure = "-" if c["recall_sure"] is None else f"{c['recall_sure']:.2f}"
    prec = "-" if c["precision"] is None else f"{c['precision']:.2f}"
    return (f"| {r['name']} | {r['tiling']} | {r['threshold']:.2f} | {r['window_s']} / {r['hold_s']} | "
            f"{r['calibration_count_mae']:.3f} | {r['count_mae']:.3f} | "
            f"{r['raw_count_mae']:.3f} | {rec} ({c['matched']}/{c['labelled']}) | {sure} | {prec} ({c['counted']}) | "
            f"{r['changes_per_s']:.2f} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=ROOT / "examples" / "demo.toml")
    parser.add_argument("--labels", type=Path, default=ROOT / "data" / "labels" / "vtest" / "labels.json")
    parser.add_argument("--video", help="the labelled clip (default: the config's first camera)")
    parser.add_argument("--models", nargs="*", default=[], help="candidates NAME@VERSION (default: none)")
    parser.add_argument("--tiling", nargs="+", default=["none"], help="none or ROWSxCOLS, each tried")
    parser.add_argument("--windows", nargs="+", type=float, default=[0.0, 1.5], help="smoothing windows, s")
    parser.add_argument("--holds", nargs="+", type=float, default=[0.5], help="smoothing holds, s")
    parser.add_argument("--json", type=Path, help="write every row here")
    parser.add_argument("--record", action="store_true",
                        help="write each candidate's calibrated threshold and its figures at the config's smoothing "
                             "into its manifest (before the deployed run, which then uses them)")
    parser.add_argument("--record-from", type=Path, help="record from the rows of an earlier --json, run nothing")
    args = parser.parse_args()
    config, labels = load_config(args.config), load_labels(args.labels)
    store, core = ModelStore(config.model.store), ov.Core()
    header = ("| model | tiling | threshold | window / hold s | count MAE (calibration) | count MAE (test) "
              "| raw MAE (test) | in/out recall | recall (sure ones) | precision (counted) | changes/s |\n"
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    smoothing = config.cameras[0].occupancy or config.occupancy
    if args.record_from:
        rows = json.loads(args.record_from.read_text())["candidates"]
        print("recorded:", ", ".join(record(store, rows, args.labels, smoothing)))
        return 0
    rows = candidates(args, config, labels, store, core)
    if args.record:
        print("recorded:", ", ".join(record(store, rows, args.labels, smoothing)), file=sys.stderr)
    print(header)
    for r in rows:
        print(_line(r))
    final = deployed(args, config, labels, store, core)
    print(f"\ndeployed ({args.config.name}, run frame by frame as the agent runs it):\n{header}\n{_line(final)}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"candidates": rows, "deployed": final}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
