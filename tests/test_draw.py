"""agent.draw: what is drawn where, checked on pixels."""

from __future__ import annotations

import numpy as np
import pytest

from agent.config import CameraConfig
from agent.detections import Detections
from agent.draw import BOX_COLOUR, INSIDE_COLOUR, LINE_COLOUR, TEXT_COLOUR, ZONE_COLOUR, annotate, inside_arrow

WIDTH, HEIGHT = 320, 240
GREY = 90


def frame() -> np.ndarray:
    return np.full((HEIGHT, WIDTH, 3), GREY, np.uint8)


def camera(**fields: object) -> CameraConfig:
    return CameraConfig.model_validate({"name": "door", "source": "0", **fields})


def is_colour(image: np.ndarray, x: int, y: int, colour: tuple[int, int, int]) -> bool:
    return bool(np.array_equal(image[y, x], np.array(colour, np.uint8)))


def test_line_pixels_lie_along_the_configured_line() -> None:
    cam = camera(line={"start": [0.1, 0.5], "end": [0.9, 0.5], "inside": [0.5, 0.9]})
    out = annotate(frame(), Detections.empty(), cam, count=0)
    y = round(0.5 * HEIGHT)
    for x in (40, 80, 120, 200, 240, 280):  # along the line, away from the arrow at its middle
        assert is_colour(out, x, y, LINE_COLOUR), (x, y, out[y, x])
    assert not np.any(np.all(out[y - 20] == LINE_COLOUR, axis=-1)), "the line is drawn elsewhere too"


@pytest.mark.parametrize("inside_y, expect_below", [(0.9, True), (0.1, False)])
def test_arrow_points_to_the_inside_side(inside_y: float, expect_below: bool) -> None:
    cam = camera(line={"start": [0.1, 0.5], "end": [0.9, 0.5], "inside": [0.5, inside_y]})
    out = annotate(frame(), Detections.empty(), cam, count=0)
    ys, _ = np.nonzero(np.all(out == INSIDE_COLOUR, axis=-1))
    assert len(ys) > 20
    below = np.count_nonzero(ys > HEIGHT / 2 + 3)
    above = np.count_nonzero(ys < HEIGHT / 2 - 3)
    assert (below > 10 * max(above, 1)) if expect_below else (above > 10 * max(below, 1))


def test_inside_arrow_geometry_for_a_slanted_line() -> None:
    start, end = np.array([0.0, 0.0]), np.array([100.0, 100.0])
    tail, tip = inside_arrow(start, end, np.array([100.0, 0.0]), 10.0)
    assert np.allclose(tail, [50, 50])
    assert np.isclose(np.linalg.norm(tip - tail), 10.0)
    assert tip[0] > tail[0] and tip[1] < tail[1]  # towards (100, 0): up and right


def test_box_edges_and_zone_are_drawn_and_the_input_is_untouched() -> None:
    image = frame()
    cam = camera(zone=[[0.05, 0.05], [0.95, 0.05], [0.95, 0.95], [0.05, 0.95]])
    detections = Detections([[100, 60, 180, 200]], [0.9], [1], tracker_id=[7])
    out = annotate(image, detections, cam, count=1)
    assert np.all(image == GREY), "annotate must draw on a copy"
    assert is_colour(out, 140, 200, BOX_COLOUR)  # bottom edge
    assert is_colour(out, 100, 130, BOX_COLOUR)  # left edge
    assert is_colour(out, 140, 130, (GREY, GREY, GREY))  # inside the box: not filled
    assert is_colour(out, 160, round(0.95 * HEIGHT), ZONE_COLOUR)  # zone's bottom edge


def test_counts_are_written_top_left() -> None:
    out = annotate(frame(), Detections.empty(), camera(), count=3, in_total=5, out_total=2)
    text_box = out[:40, :120]
    assert np.any(np.all(text_box == TEXT_COLOUR, axis=-1))
    only_count = annotate(frame(), Detections.empty(), camera(), count=3)
    lines_with_text = np.any(np.all(out == TEXT_COLOUR, axis=-1), axis=1)
    lines_with_text_count_only = np.any(np.all(only_count == TEXT_COLOUR, axis=-1), axis=1)
    assert lines_with_text.sum() > lines_with_text_count_only.sum()  # a second line for in/out
