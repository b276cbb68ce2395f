"""Writing the Pascal VOC layout (synthetic sets, auto-labels): JPEGImages/, Annotations/*.xml, ImageSets/Main/.

Reading it is `models.scoring` (one reader for both halves); its names are re-exported here for the
pruning data pipeline.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from models.scoring import Annotation, DatasetError, load_dataset, parse_annotation, read_split

__all__ = ["Annotation", "DatasetError", "load_dataset", "parse_annotation", "read_split", "write_annotation",
           "write_splits"]


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
