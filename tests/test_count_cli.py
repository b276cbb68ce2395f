"""`headcount-agent count`: the counting path on a clip, its JSON, its errors, annotation and calibration."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from agent.cli import main
from agent.config import CameraConfig, OccupancyConfig, TrackerConfig
from agent.count_path import CountPath
from agent.count_run import CachedFrame, calibrate
from agent.detections import Detections
from agent.draw import LINE_COLOUR
from models.labels import FrameCountLabel
from tests.helpers import STORE

LINE_Y = 0.55


def write_config(tmp_path: Path, video: Path) -> Path:
    path = tmp_path / "site.toml"
    path.write_text(f"""
[model]
store = "{STORE}"
devices = ["CPU"]

[[cameras]]
name = "courtyard"
source = "{video}"
line = {{ start = [0.0, {LINE_Y}], end = [1.0, {LINE_Y}], inside = [0.5, 1.0], min_frames = 2 }}
""")
    return path


@pytest.fixture
def site(tmp_path: Path, sample_video: Path, store: object) -> Path:
    return write_config(tmp_path, sample_video)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(["count", *args])
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.slow
def test_count_reports_frames_crossings_totals_and_a_score(site: Path, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    labels = tmp_path / "labels.json"
    labels.write_text(json.dumps({
        "video": "vtest.avi", "frame_count": 795, "frame_size": [768, 576], "rule": "half visible",
        "test_from_frame": 10, "counts": [{"frame": 5, "count": 5, "min": 5, "max": 6},
                                          {"frame": 15, "count": 5, "min": 4, "max": 5}],
        "crossings": [{"frame": 12, "direction": "in"}]}))
    annotated = tmp_path / "png"
    status, out, _ = run(capsys, "--config", str(site), "--max-frames", "20", "--frames", "5,15",
                         "--labels", str(labels), "--annotate", str(annotated), "--json", "-")
    assert status == 0
    report = json.loads(out)
    assert report["model"] == "person-ssdlite@1" and report["frames_read"] == 20
    assert [f["frame"] for f in report["frames"]] == [5, 15]
    assert all(f["occupancy"] >= 0 and f["raw_count"] >= 0 for f in report["frames"])
    assert set(report["totals"]) == {"in", "out"} and isinstance(report["crossings"], list)
    assert report["score"]["labelled_frames"] == 2 and report["score"]["count_mae"] >= 0
    crossings = report["score"]["crossings"]  # the errors by name: which labels were missed, which counted spuriously
    assert crossings["matched"] + len(crossings["missed_frames"]) == crossings["labelled"] == 1
    assert crossings["counted"] - crossings["matched"] == len(crossings["spurious"])
    assert report["occupancy_smoothing"]["statistic"] == "median"
    image = cv2.imread(str(annotated / "frame_000005.png"))
    assert sorted(p.name for p in annotated.iterdir()) == ["frame_000005.png", "frame_000015.png"]
    row = image[round(LINE_Y * image.shape[0]), ::50].astype(int)  # pixels along the drawn line
    assert (np.abs(row - LINE_COLOUR).sum(axis=1) < 60).mean() > 0.8


def test_a_malformed_labels_file_is_refused_by_name(site: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    labels = tmp_path / "broken-labels.json"
    labels.write_text('{"video": "vtest.avi", "counts": 3}')
    status, _, err = run(capsys, "--config", str(site), "--labels", str(labels))
    assert status == 78 and "broken-labels.json" in err and "counts" in err


@pytest.mark.parametrize("frames", ["30,x", "-4", ","])
def test_a_bad_frame_list_is_a_usage_error(site: Path, frames: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["count", "--config", str(site), "--frames", frames])
    assert exit_.value.code == 2 and "frame numbers" in capsys.readouterr().err


def test_frames_beyond_the_clip_are_named(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "--config", str(site), "--max-frames", "3", "--frames", "1,50")
    assert status == 2 and "[50]" in err


def test_an_unknown_camera_is_named(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "--config", str(site), "--camera", "gate")
    assert status == 78 and "'gate'" in err and "courtyard" in err


def test_calibration_picks_the_threshold_with_the_least_count_error() -> None:
    """Each frame has 3 boxes scored 0.9, 0.55 and 0.3; 2 people are really there."""
    boxes = np.array([[10, 10, 30, 60], [50, 10, 70, 60], [90, 10, 110, 60]], np.float32)
    frame = Detections(boxes, np.array([0.9, 0.55, 0.3], np.float32), np.ones(3))
    cached = [CachedFrame(i, i / 10, (160, 120), frame) for i in range(30)]
    labels = [FrameCountLabel(frame=i, count=2, min=2, max=2) for i in range(0, 30, 5)]

    def make_path() -> CountPath:
        return CountPath(CameraConfig(name="c", source="x.avi"), TrackerConfig(), OccupancyConfig())

    best, errors = calibrate(make_path, cached, labels, 1, [0.2, 0.4, 0.5, 0.6, 0.8])
    assert best == 0.5  # 0.4 and 0.5 both count 2: the tie goes to the one nearer 0.5
    assert errors[0.2] == 1 and errors[0.4] == 0 and errors[0.6] == 1 and errors[0.8] == 1
