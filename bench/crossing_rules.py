"""In/out against hand labels under every line and tracker setting: is there a rule that counts right?

Each model's detections of the clip are computed once (at its calibrated threshold), then the counting
path is replayed under every combination of the line's dead band, `min_frames` and `confirm_s` and the
tracker's IoU threshold and `max_missed`. Settings are judged on the calibration part's crossings (frames before the
labels' `test_from_frame`); the test part's are printed beside them, never used to choose.

    .venv/bin/python bench/crossing_rules.py --models ssd-mobilenet@384x288-cp1.5x ssd-mobilenet@1 \
        --json docs/evidence/crossing-rules.json

Columns per model: `matched/counted` on the calibration part | on the test part. `errors` sums, over the
models, labelled crossings missed plus spurious ones counted; the last lines list, at the config's own
setting, which labelled crossings each model missed and which counted ones match none.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path
from typing import Any

import openvino as ov

from agent.config import AgentConfig, CameraConfig, TrackerConfig, load_config
from agent.control import prepare_model
from agent.count_cli import score_report
from agent.count_path import CountPath
from agent.count_run import CachedFrame, detect_clip, replay, video_frames
from models.labels import HandLabels, load_labels
from models.store import ModelStore, parse_ref

ROOT = Path(__file__).resolve().parents[1]


def _errors(crossings: dict[str, Any]) -> int:
    """Labelled crossings missed plus counted ones that match no label."""
    return len(crossings["missed_frames"]) + len(crossings["spurious"])


def sweep(config: AgentConfig, cached: dict[str, tuple[list[CachedFrame], float, int]], labels: HandLabels,
          args: argparse.Namespace) -> list[dict[str, Any]]:
    camera = config.cameras[0]
    assert camera.line is not None
    rows = []
    for band, min_frames, confirm, iou, missed in itertools.product(args.bands, args.min_frames, args.confirm,
                                                                     args.iou, args.max_missed):
        line = camera.line.model_copy(update={"band": band, "min_frames": min_frames, "confirm_s": confirm})
        cam: CameraConfig = camera.model_copy(update={"line": line})
        tracker = TrackerConfig(iou_threshold=iou, max_missed=missed)
        row: dict[str, Any] = {"band": band, "min_frames": min_frames, "confirm_s": confirm, "iou_threshold": iou,
                               "max_missed": missed, "models": {}}
        for ref, (frames, threshold, class_id) in cached.items():
            run = replay(lambda c=cam, t=tracker: CountPath(c, t, config.occupancy), frames, threshold, class_id)
            row["models"][ref] = {part: score_report(run, labels.part(part), part)["crossings"]
                                  for part in ("calibration", "test")}
        row["errors"] = {part: sum(_errors(m[part]) for m in row["models"].values())
                         for part in ("calibration", "test")}
        rows.append(row)
        print(_line(row), file=sys.stderr, flush=True)
    return rows


def _line(row: dict[str, Any]) -> str:
    cells = " | ".join(f"{m['calibration']['matched']}/{m['calibration']['counted']} "
                       f"{m['test']['matched']}/{m['test']['counted']}" for m in row["models"].values())
    return (f"| {row['band']} | {row['min_frames']} | {row['confirm_s']} | {row['iou_threshold']} | "
            f"{row['max_missed']} | {row['errors']['calibration']} | {row['errors']['test']} | {cells} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=ROOT / "examples" / "demo.toml")
    parser.add_argument("--labels", type=Path, default=ROOT / "data" / "labels" / "vtest" / "labels.json")
    parser.add_argument("--models", nargs="+", required=True, help="NAME@VERSION, each at its manifest's threshold")
    parser.add_argument("--bands", nargs="+", type=float, default=[0.0, 0.002, 0.004, 0.006, 0.01])
    parser.add_argument("--min-frames", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--confirm", nargs="+", type=float, default=[0.0, 0.3, 0.5, 0.7, 1.0],
                        help="the line's confirm_s values")
    parser.add_argument("--iou", nargs="+", type=float, default=[0.2, 0.3, 0.4])
    parser.add_argument("--max-missed", nargs="+", type=int, default=[2, 5, 10])
    parser.add_argument("--json", type=Path, help="write every row here")
    args = parser.parse_args()
    config, labels = load_config(args.config), load_labels(args.labels)
    if not config.cameras or config.cameras[0].line is None:
        parser.error(f"{args.config}: its first camera has no line to count crossings on")
    store, core, camera = ModelStore(config.model.store), ov.Core(), config.cameras[0]
    cached = {}
    for ref in args.models:
        running, _, _ = prepare_model(store, core, config.model, *parse_ref(ref), "CPU")
        print(f"{ref}: detecting at {running.threshold} ...", file=sys.stderr, flush=True)
        frames = detect_clip(CountPath(camera, config.tracker, config.occupancy), running.detector.session(),
                             video_frames(camera.source), running.threshold)
        cached[ref] = (frames, running.threshold, running.class_id)
    rows = sweep(config, cached, labels, args)
    print("| band | min_frames | confirm_s | IoU | max_missed | errors (calibration) | errors (test) | "
          + " | ".join(args.models) + " |")
    print("| --- " * (7 + len(args.models)) + "|")
    for row in sorted(rows, key=lambda r: (r["errors"]["calibration"], r["errors"]["test"])):
        print(_line(row))
    own = (camera.line.band, camera.line.min_frames, camera.line.confirm_s, config.tracker.iou_threshold,
           config.tracker.max_missed)
    print(f"\nat {args.config.name}'s setting {own} (band, min_frames, confirm_s, IoU, max_missed), the errors:")
    for row in rows:
        if (row["band"], row["min_frames"], row["confirm_s"], row["iou_threshold"], row["max_missed"]) == own:
            for ref, m in row["models"].items():
                missed = m["calibration"]["missed_frames"] + m["test"]["missed_frames"]
                spurious = [(e["frame"], e["direction"]) for e in m["calibration"]["spurious"] + m["test"]["spurious"]]
                print(f"- {ref}: missed (labelled frames) {missed}, spurious (frame, direction) {spurious}")
    if args.json:
        args.json.write_text("[\n" + ",\n".join(json.dumps(r, separators=(",", ":")) for r in rows) + "\n]\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
