"""Draw what a camera's counting sees onto its frame: boxes, zone, counting line, inside side, counts.

Used by snapshots (`agent.snapshot`) and `headcount-agent count --annotate`. The config's points are
normalised; they are scaled to the frame's pixels here exactly as `agent.counting` scales them.
Colours are BGR and public so tests (and docs) can name them.
"""

from __future__ import annotations

import cv2
import numpy as np

from agent.config import CameraConfig
from agent.counting import side_of_line
from agent.detections import Detections

BOX_COLOUR = (0, 200, 0)  # green
ZONE_COLOUR = (0, 220, 255)  # amber
LINE_COLOUR = (0, 0, 255)  # red
INSIDE_COLOUR = (255, 128, 0)  # blue: the arrow towards the inside side and its "IN" label
TEXT_COLOUR = (255, 255, 255)
TEXT_BACKGROUND = (0, 0, 0)
FONT = cv2.FONT_HERSHEY_SIMPLEX


def thickness_for(image: np.ndarray) -> int:
    """Stroke width that stays visible on large frames and does not swamp small ones."""
    return max(2, round(min(image.shape[:2]) / 200))


def text_scale_for(image: np.ndarray) -> float:
    """Font scale readable at the frame's size: 0.5 up to 720 pixels, growing beyond."""
    return max(0.5, min(image.shape[:2]) / 720 * 0.5)


def to_pixels(points: object, width: int, height: int) -> np.ndarray:
    """Normalised (x, y) points -> (N, 2) int32 pixel points, clipped to the frame."""
    scaled = np.asarray(points, np.float64).reshape(-1, 2) * (width, height)
    return np.clip(np.rint(scaled), 0, (width - 1, height - 1)).astype(np.int32)


def inside_arrow(start: np.ndarray, end: np.ndarray, inside: np.ndarray,
                 length: float) -> tuple[np.ndarray, np.ndarray]:
    """Tail (the line's midpoint) and tip of an arrow of `length` pixels pointing to `inside`'s side."""
    start, end = np.asarray(start, np.float64), np.asarray(end, np.float64)
    direction = end - start
    normal = np.array([-direction[1], direction[0]]) / np.linalg.norm(direction)  # lies on side +1
    side = int(side_of_line(start, end, np.asarray([inside], np.float64))[0])
    tail = (start + end) / 2
    return tail, tail + normal * length * (1 if side >= 0 else -1)


def _draw_boxes(image: np.ndarray, detections: Detections, thickness: int) -> None:
    for i, (x1, y1, x2, y2) in enumerate(np.rint(detections.xyxy).astype(int).tolist()):
        cv2.rectangle(image, (x1, y1), (x2, y2), BOX_COLOUR, thickness)
        if detections.tracker_id is not None:
            cv2.putText(image, f"#{detections.tracker_id[i]}", (x1 + 2, max(y1 - 4, 10)), FONT, 0.4,
                        BOX_COLOUR, 1, cv2.LINE_AA)


def _draw_line(image: np.ndarray, camera: CameraConfig, thickness: int) -> None:
    assert camera.line is not None
    height, width = image.shape[:2]
    start, end, inside = to_pixels([camera.line.start, camera.line.end, camera.line.inside], width, height)
    cv2.line(image, tuple(start.tolist()), tuple(end.tolist()), LINE_COLOUR, thickness)
    tail, tip = inside_arrow(start, end, inside, max(12.0, 0.08 * min(width, height)))
    tail_px, tip_px = tuple(np.rint(tail).astype(int).tolist()), tuple(np.rint(tip).astype(int).tolist())
    cv2.arrowedLine(image, tail_px, tip_px, INSIDE_COLOUR, thickness, cv2.LINE_AA, tipLength=0.35)
    scale = text_scale_for(image)
    weight = max(1, round(scale * 2))
    (w, h), _ = cv2.getTextSize("IN", FONT, scale, weight)
    centre = tip + (tip - tail) / np.linalg.norm(tip - tail) * (max(w, h) / 2 + 4)  # just beyond the tip
    corner = (int(centre[0] - w / 2), int(centre[1] + h / 2))
    cv2.putText(image, "IN", corner, FONT, scale, TEXT_BACKGROUND, weight + 2, cv2.LINE_AA)  # outline
    cv2.putText(image, "IN", corner, FONT, scale, INSIDE_COLOUR, weight, cv2.LINE_AA)


def _draw_text(image: np.ndarray, lines: list[str]) -> None:
    scale, y = text_scale_for(image), 4
    weight = max(1, round(scale * 1.5))
    for text in lines:
        (w, h), baseline = cv2.getTextSize(text, FONT, scale, weight)
        cv2.rectangle(image, (4, y), (4 + w + 6, y + h + baseline + 4), TEXT_BACKGROUND, -1)
        cv2.putText(image, text, (7, y + h + 2), FONT, scale, TEXT_COLOUR, weight, cv2.LINE_AA)
        y += h + baseline + 6


def annotate(image: np.ndarray, detections: Detections, camera: CameraConfig, count: int,
             in_total: int | None = None, out_total: int | None = None) -> np.ndarray:
    """A copy of the BGR `image` with boxes, zone, counting line, inside arrow and counts drawn.

    Args:
        image: the frame (H, W, 3) uint8 BGR; left untouched.
        detections: boxes in the frame's pixels (all of them, or only the counted label's).
        camera: the camera's config, for `zone` and `line` (normalised points).
        count: the occupancy to print.
        in_total, out_total: line totals to print; omitted when None.
    """
    canvas = image.copy()
    thickness = thickness_for(canvas)
    height, width = canvas.shape[:2]
    if camera.zone:
        polygon = to_pixels(camera.zone, width, height).reshape(-1, 1, 2)
        cv2.polylines(canvas, [polygon], True, ZONE_COLOUR, thickness)
    _draw_boxes(canvas, detections, thickness)
    if camera.line is not None:
        _draw_line(canvas, camera, thickness)
    text = [f"{camera.name}: {count}"]
    if in_total is not None or out_total is not None:
        text.append(f"in {in_total or 0}  out {out_total or 0}")
    _draw_text(canvas, text)
    return canvas
