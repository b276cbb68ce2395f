"""Synthetic overhead scenes of people entering and leaving a room through a door (the seed's use case).

A ceiling camera looks down on a floor; the door is at the top edge and a counting line runs across the
frame below it. A person is a shoulder ellipse with a head disc on top; the label is the head's box.
Everything is drawn from one seed, so the same seed gives the same pixels, boxes and totals.

- `generate_images`: independent frames as a VOC dataset (class `head`), split train/test.
- `generate_video`: a clip (MJPG .avi) and its truth JSON: per-frame head boxes, and exact in/out totals
  (a person crossing the line downwards, away from the door, is "in"; upwards is "out").
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from pruning.data.voc import write_annotation, write_splits

LABEL = "head"


@dataclass(frozen=True)
class Scene:
    width: int = 320
    height: int = 240
    head_radius: tuple[int, int] = (9, 15)

    @property
    def door(self) -> tuple[int, int]:
        """Door span (x1, x2) on the top edge."""
        return int(self.width * 0.35), int(self.width * 0.65)

    @property
    def line_y(self) -> int:
        return int(self.height * 0.4)


@dataclass
class Person:
    path: np.ndarray  # (frames, 2) head centre per frame; NaN when not in view
    radius: int
    body: tuple[int, int, int]
    hair: tuple[int, int, int]


def background(scene: Scene, rng: np.random.Generator) -> np.ndarray:
    base = rng.integers(90, 170, 3)
    floor = np.clip(base + rng.normal(0, 6, (scene.height, scene.width, 3)), 0, 255).astype(np.uint8)
    x1, x2 = scene.door
    cv2.rectangle(floor, (x1, 0), (x2, 12), (40, 60, 90), -1)
    cv2.line(floor, (0, scene.line_y), (scene.width, scene.line_y), (200, 200, 200), 1)
    return floor


def draw_person(image: np.ndarray, centre: tuple[float, float], person: Person) -> np.ndarray:
    """Draws one person; returns the head box (x1, y1, x2, y2), clipped to the image."""
    cx, cy, r = int(round(centre[0])), int(round(centre[1])), person.radius
    cv2.ellipse(image, (cx, cy + r // 3), (int(r * 2.1), int(r * 1.1)), 0, 0, 360, person.body, -1)
    cv2.circle(image, (cx, cy), r, person.hair, -1)
    h, w = image.shape[:2]
    return np.array([max(cx - r, 0), max(cy - r, 0), min(cx + r, w - 1), min(cy + r, h - 1)], np.float32)


def random_person(scene: Scene, rng: np.random.Generator, frames: int) -> Person:
    """A walk through the door into the room, or out of it, starting at a random frame."""
    radius = int(rng.integers(*scene.head_radius))
    door = rng.uniform(*scene.door)
    inside = (rng.uniform(0.1, 0.9) * scene.width, rng.uniform(0.6, 0.95) * scene.height)
    outside = (door, -2.0 * radius)
    start, end = (outside, inside) if rng.random() < 0.5 else (inside, outside)
    length = int(rng.integers(frames // 4, frames // 2))
    begin = int(rng.integers(0, frames - length))
    path = np.full((frames, 2), np.nan)
    t = np.linspace(0, 1, length)[:, None]
    path[begin:begin + length] = (1 - t) * np.array(start) + t * np.array(end)
    body = tuple(int(v) for v in rng.integers(30, 230, 3))
    hair = tuple(int(v) for v in rng.integers(10, 80, 1).repeat(3))
    return Person(path, radius, body, hair)  # type: ignore[arg-type]


def render(scene: Scene, floor: np.ndarray, people: list[Person], frame: int) -> tuple[np.ndarray, np.ndarray]:
    image = floor.copy()
    boxes = []
    for person in people:
        centre = person.path[frame]
        if np.isnan(centre).any():
            continue
        box = draw_person(image, (centre[0], centre[1]), person)
        if box[2] - box[0] >= 4 and box[3] - box[1] >= 4:
            boxes.append(box)
    return image, np.asarray(boxes, np.float32).reshape(-1, 4)


def crossings(people: list[Person], line_y: float) -> tuple[int, int]:
    """Exact (in, out): sign changes of each head's y relative to the line, over visible frames."""
    entered = left = 0
    for person in people:
        ys = person.path[:, 1][~np.isnan(person.path[:, 1])]
        side = np.sign(ys - line_y)
        side = side[side != 0]
        for a, b in zip(side[:-1], side[1:], strict=True):
            entered += int(a < 0 < b)
            left += int(a > 0 > b)
    return entered, left


def generate_video(path: Path, frames: int = 120, people: int = 6, seed: int = 0, scene: Scene | None = None,
                   fps: int = 10) -> dict:
    """Write `path` (.avi) and `path.with_suffix('.json')` (truth); returns the truth."""
    scene = scene or Scene()
    rng = np.random.default_rng(seed)
    floor = background(scene, rng)
    crowd = [random_person(scene, rng, frames) for _ in range(people)]
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (scene.width, scene.height))
    boxes = []
    for f in range(frames):
        image, frame_boxes = render(scene, floor, crowd, f)
        writer.write(image)
        boxes.append(frame_boxes.round(1).tolist())
    writer.release()
    entered, left = crossings(crowd, scene.line_y)
    truth = {"seed": seed, "frames": frames, "size": [scene.width, scene.height], "line_y": scene.line_y,
             "in": entered, "out": left, "label": LABEL, "boxes": boxes}
    path.with_suffix(".json").write_text(json.dumps(truth))
    return truth


def generate_images(root: Path, count: int = 40, seed: int = 0, scene: Scene | None = None,
                    test_fraction: float = 0.25) -> dict[str, list[str]]:
    """A VOC dataset of `count` independent scenes with 1-6 people each."""
    scene = scene or Scene()
    rng = np.random.default_rng(seed)
    ids = []
    for i in range(count):
        floor = background(scene, rng)
        crowd = [random_person(scene, rng, 8) for _ in range(int(rng.integers(1, 7)))]
        for person in crowd:  # freeze everyone somewhere along their walk, in view
            t = rng.uniform(0.3, 1.0)
            start, end = person.path[~np.isnan(person.path[:, 0])][[0, -1]]
            person.path[:] = start + t * (end - start) if start[1] < 0 else end + t * (start - end)
        image, boxes = render(scene, floor, crowd, 0)
        image_id = f"synth_{seed}_{i:05d}"
        (root / "JPEGImages").mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / "JPEGImages" / f"{image_id}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 95])
        write_annotation(root / "Annotations" / f"{image_id}.xml", f"{image_id}.jpg", scene.width,
                         scene.height, boxes, [LABEL] * len(boxes))
        ids.append(image_id)
    cut = int(round(count * (1 - test_fraction)))
    splits = {"train": ids[:cut], "test": ids[cut:], "all": ids}
    write_splits(root, splits)
    return splits
