"""Pascal VOC layout, as LabelImg and CVAT export it: JPEGImages/, Annotations/*.xml, ImageSets/Main/*.txt.

Reading validates every annotation and names the file on any problem; class names are filtered and
mapped to the model's 1-based ids (0 is background).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


class DatasetError(ValueError):
    """A dataset file is missing or malformed; the message names the file and the problem."""


@dataclass
class Annotation:
    """One image: boxes in pixels (x1, y1, x2, y2), 1-based labels, VOC `difficult` flags."""

    image: Path
    width: int
    height: int
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    labels: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    difficult: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))


def _text(node: ET.Element, tag: str, path: Path) -> str:
    child = node.find(tag)
    if child is None or child.text is None:
        raise DatasetError(f"{path}: <{node.tag}> has no <{tag}>")
    return child.text.strip()


def _number(node: ET.Element, tag: str, path: Path) -> float:
    value = _text(node, tag, path)
    try:
        return float(value)
    except ValueError:
        raise DatasetError(f"{path}: <{tag}> is {value!r}, not a number") from None


def parse_annotation(path: Path, class_map: dict[str, int], images: Path | None = None) -> Annotation:
    """Parse one VOC XML; objects whose class is not in `class_map` are dropped.

    Raises:
        DatasetError: unreadable XML, missing fields, non-numeric or inverted boxes.
    """
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as exc:
        raise DatasetError(f"{path}: not a readable VOC annotation ({exc})") from None
    if root.tag != "annotation":
        raise DatasetError(f"{path}: root element is <{root.tag}>, expected <annotation>")
    size = root.find("size")
    if size is None:
        raise DatasetError(f"{path}: no <size>")
    width, height = int(_number(size, "width", path)), int(_number(size, "height", path))
    if width <= 0 or height <= 0:
        raise DatasetError(f"{path}: image size {width}x{height} is not positive")
    boxes, labels, difficult = [], [], []
    for obj in root.iter("object"):
        name = _text(obj, "name", path)
        if name not in class_map:
            continue
        bnd = obj.find("bndbox")
        if bnd is None:
            raise DatasetError(f"{path}: object {name!r} has no <bndbox>")
        box = [_number(bnd, t, path) for t in ("xmin", "ymin", "xmax", "ymax")]
        if box[2] <= box[0] or box[3] <= box[1]:
            raise DatasetError(f"{path}: object {name!r} has an empty or inverted box {box}")
        flag = obj.find("difficult")
        boxes.append(box)
        labels.append(class_map[name])
        difficult.append(flag is not None and (flag.text or "0").strip() == "1")
    image_dir = images if images is not None else path.parent.parent / "JPEGImages"
    filename = root.findtext("filename") or path.with_suffix(".jpg").name
    return Annotation(image_dir / filename.strip(), width, height,
                      np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(labels, np.int64),
                      np.asarray(difficult, bool))


def read_split(root: Path, split: str) -> list[str]:
    """Image ids listed in ImageSets/Main/<split>.txt."""
    path = root / "ImageSets" / "Main" / f"{split}.txt"
    if not path.is_file():
        raise DatasetError(f"{path}: split file not found (dataset root {root})")
    return [line.split()[0] for line in path.read_text().splitlines() if line.strip()]


def load_dataset(root: Path | str, split: str, class_map: dict[str, int]) -> list[Annotation]:
    """All annotations of one split; raises DatasetError naming the first bad file."""
    root = Path(root)
    annotations = []
    for image_id in read_split(root, split):
        path = root / "Annotations" / f"{image_id}.xml"
        if not path.is_file():
            raise DatasetError(f"{path}: annotation listed in split {split!r} does not exist")
        annotations.append(parse_annotation(path, class_map))
    return annotations


def write_annotation(path: Path, image_name: str, width: int, height: int, boxes: np.ndarray,
                     names: list[str]) -> None:
    """Write one VOC XML (pixel boxes, rounded the way LabelImg stores them)."""
    root = ET.Element("annotation")
    ET.SubElement(root, "folder").text = "JPEGImages"
    ET.SubElement(root, "filename").text = image_name
    size = ET.SubElement(root, "size")
    for tag, value in (("width", width), ("height", height), ("depth", 3)):
        ET.SubElement(size, tag).text = str(value)
    for box, name in zip(boxes, names, strict=True):
        obj = ET.SubElement(root, "object")
        ET.SubElement(obj, "name").text = name
        ET.SubElement(obj, "difficult").text = "0"
        bnd = ET.SubElement(obj, "bndbox")
        for tag, value in zip(("xmin", "ymin", "xmax", "ymax"), box, strict=True):
            ET.SubElement(bnd, tag).text = f"{float(value):.1f}"
    ET.indent(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(path, encoding="unicode")


def write_splits(root: Path, splits: dict[str, list[str]]) -> None:
    directory = root / "ImageSets" / "Main"
    directory.mkdir(parents=True, exist_ok=True)
    for split, ids in splits.items():
        (directory / f"{split}.txt").write_text("".join(f"{i}\n" for i in ids))
