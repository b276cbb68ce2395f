"""VOC layout: parsing, class filtering and mapping, clear errors naming the bad file, round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.scoring import DatasetError, load_dataset, parse_annotation
from pruning.data.voc import write_annotation, write_splits

GOOD = """<annotation><filename>a.jpg</filename><size><width>640</width><height>480</height></size>
<object><name>person</name><difficult>0</difficult>
<bndbox><xmin>10</xmin><ymin>20</ymin><xmax>110</xmax><ymax>220</ymax></bndbox></object>
<object><name>dog</name><bndbox><xmin>1</xmin><ymin>2</ymin><xmax>3</xmax><ymax>4</ymax></bndbox></object>
<object><name>person</name><difficult>1</difficult>
<bndbox><xmin>300</xmin><ymin>30</ymin><xmax>340.5</xmax><ymax>90</ymax></bndbox></object>
</annotation>"""


def test_parse_filters_and_maps_classes(tmp_path: Path) -> None:
    path = tmp_path / "Annotations" / "a.xml"
    path.parent.mkdir()
    path.write_text(GOOD)
    ann = parse_annotation(path, {"person": 1})
    assert (ann.width, ann.height) == (640, 480)
    assert ann.labels.tolist() == [1, 1]
    assert ann.difficult.tolist() == [False, True]
    np.testing.assert_allclose(ann.boxes[1], [300, 30, 340.5, 90])
    assert ann.image == tmp_path / "JPEGImages" / "a.jpg"
    both = parse_annotation(path, {"person": 1, "dog": 2})
    assert both.labels.tolist() == [1, 2, 1]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("<annotation><size><width>10", "not a readable VOC annotation"),
        ("<root/>", "expected <annotation>"),
        ("<annotation><filename>a.jpg</filename></annotation>", "no <size>"),
        (GOOD.replace("<width>640</width>", "<width>wide</width>"), "not a number"),
        (GOOD.replace("<xmax>110</xmax>", "<xmax>5</xmax>"), "empty or inverted box"),
        (GOOD.replace("<name>person</name><difficult>0", "<difficult>0"), "has no <name>"),
    ],
)
def test_malformed_xml_names_the_file(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "bad_0001.xml"
    path.write_text(text)
    with pytest.raises(DatasetError) as info:
        parse_annotation(path, {"person": 1})
    assert str(path) in str(info.value)
    assert problem in str(info.value)


def test_round_trip_and_splits(tmp_path: Path) -> None:
    boxes = np.array([[1, 2, 30, 40], [50, 60, 70, 80]], np.float32)
    write_annotation(tmp_path / "Annotations" / "x.xml", "x.jpg", 100, 90, boxes, ["person", "person"])
    write_splits(tmp_path, {"train": ["x"]})
    [ann] = load_dataset(tmp_path, "train", {"person": 1})
    np.testing.assert_allclose(ann.boxes, boxes)
    assert ann.labels.tolist() == [1, 1]


def test_missing_split_and_annotation_are_named(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="test.txt"):
        load_dataset(tmp_path, "test", {"person": 1})
    write_splits(tmp_path, {"test": ["ghost"]})
    with pytest.raises(DatasetError, match="ghost.xml"):
        load_dataset(tmp_path, "test", {"person": 1})
