"""Dataset loading (images and videos), its clear errors, and detection-file round trips."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from veil.errors import InputError, OutputError
from veil.evaluate import (
    boxes_to_regions,
    load_dataset,
    regions_to_dataset_entry,
    video_to_dataset_entry,
    write_detections_json,
)
from veil.regions import FACE, PLATE, Regions


def _write(tmp_path: Path, doc: object, media: tuple[str, ...] = ()) -> Path:
    for name in media:
        p = tmp_path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"x")
    path = tmp_path / "ds.json"
    path.write_text(json.dumps(doc) if not isinstance(doc, str) else doc)
    return path


def _box(**kw: object) -> dict[str, object]:
    return {"label": "face", "x1": 1, "y1": 2, "x2": 11, "y2": 22, **kw}


def test_load_images(tmp_path: Path) -> None:
    doc = {
        "images": [
            {"file": "img/a.jpg", "width": 64, "height": 48, "event": "x",
             "boxes": [_box(ignore=False, blur=2), _box(label="plate", ignore=True),
                       _box(x2=1, ignore=False)]},
            {"file": "img/b.jpg", "width": 10, "height": 10},
        ]
    }  # fmt: skip
    ds = load_dataset(_write(tmp_path, doc, ("img/a.jpg", "img/b.jpg")))
    assert len(ds) == 2 and ds.videos == () and ds.root == tmp_path
    a = ds.images[0]
    assert a.file == tmp_path / "img" / "a.jpg" and a.file.is_absolute()
    assert (a.width, a.height) == (64, 48)
    assert a.boxes[0].xyxy == (1.0, 2.0, 11.0, 22.0) and a.boxes[0].height == 20
    assert [b.ignore for b in a.boxes] == [False, True, True]  # zero-area -> ignore
    assert ds.images[1].boxes == ()
    assert ds.labels == ("face", "plate")


def test_load_videos_with_ids(tmp_path: Path) -> None:
    doc = {
        "videos": [
            {"file": "v.mp4", "frames": [
                {"index": 5, "boxes": [_box(id=7)]},
                {"index": 0, "boxes": [_box(id="p1", label="plate"), _box()]},
                {"index": 3, "boxes": []},
            ]}
        ]
    }  # fmt: skip
    ds = load_dataset(_write(tmp_path, doc, ("v.mp4",)))
    v = ds.videos[0]
    assert list(v.frames) == [0, 3, 5]
    assert v.frames[5][0].object_id == "7"
    assert [b.object_id for b in v.frames[0]] == ["p1", None]
    assert v.frames[3] == () and len(ds) == 3


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ("{not json", "not valid JSON"),
        ([1, 2], "'images' or 'videos'"),
        ({"images": {}}, "images: must be a list"),
        ({"images": [{"width": 4, "height": 4}]}, "images[0].file"),
        ({"images": [{"file": "a.jpg", "height": 4}]}, "images[0].width"),
        ({"images": [{"file": "a.jpg", "width": 4, "height": 0}]}, "images[0].height"),
        ({"images": [{"file": "a.jpg", "width": 4, "height": 4, "boxes": [_box(label="car")]}]},
         "images[0].boxes[0].label"),
        ({"images": [{"file": "a.jpg", "width": 4, "height": 4, "boxes": [_box(y2="3")]}]},
         "images[0].boxes[0].y2"),
        ({"images": [{"file": "a.jpg", "width": 4, "height": 4, "boxes": [_box(x2=0)]}]},
         "inverted box"),
        ({"images": [{"file": "a.jpg", "width": 4, "height": 4, "boxes": [_box(ignore="no")]}]},
         "boxes[0].ignore"),
        ({"images": [{"file": "a.jpg", "width": 4, "height": 4},
                     {"file": "a.jpg", "width": 4, "height": 4}]}, "listed twice"),
        ({"videos": [{"file": "v.mp4", "frames": [{"index": 1}, {"index": 1}]}]},
         "videos[0].frames[1].index"),
        ({"videos": [{"file": "v.mp4", "frames": [{"index": -1}]}]}, "frames[0].index"),
    ],
)  # fmt: skip
def test_load_errors_name_the_entry(tmp_path: Path, doc: object, message: str) -> None:
    path = _write(tmp_path, doc, ("a.jpg", "v.mp4"))
    with pytest.raises(InputError) as exc:
        load_dataset(path)
    assert message in str(exc.value)
    assert str(path) in str(exc.value)


def test_missing_media_and_json(tmp_path: Path) -> None:
    path = _write(tmp_path, {"images": [{"file": "gone.jpg", "width": 4, "height": 4}]})
    with pytest.raises(InputError, match=r"images\[0\]\.file: .*gone\.jpg does not exist"):
        load_dataset(path)
    assert load_dataset(path, check_files=False).images[0].file.name == "gone.jpg"
    with pytest.raises(InputError, match="not found"):
        load_dataset(tmp_path / "nope.json")


def test_detections_round_trip(tmp_path: Path) -> None:
    img = tmp_path / "media" / "a.jpg"
    img.parent.mkdir()
    img.write_bytes(b"x")
    vid = tmp_path / "media" / "v.mp4"
    vid.write_bytes(b"x")
    found = Regions(
        np.array([[1.234, 2, 30.5, 40], [5, 6, 7, 8]], np.float32), [0.87654, 0.5], [FACE, PLATE]
    )
    tracked = found.with_track_ids(np.array([3, -1]))
    with pytest.raises(OutputError, match="cannot write detections"):
        write_detections_json(tmp_path / "out" / "dets.json")  # no such folder
    (tmp_path / "out").mkdir()
    out = write_detections_json(
        tmp_path / "out" / "dets.json",
        images=[regions_to_dataset_entry(img, 64, 48, found)],
        videos=[video_to_dataset_entry(vid, [(0, tracked), (2, Regions.empty())], 64, 48)],
    )
    doc = json.loads(out.read_text())
    assert doc["images"][0]["file"] == "../media/a.jpg"
    box = doc["images"][0]["boxes"][0]
    assert box == {"label": "face", "x1": 1.23, "y1": 2.0, "x2": 30.5, "y2": 40.0, "score": 0.8765}
    assert doc["videos"][0]["frames"][0]["boxes"][0]["id"] == 3
    assert "id" not in doc["videos"][0]["frames"][0]["boxes"][1]

    ds = load_dataset(out)
    assert ds.images[0].file == img
    back = boxes_to_regions(ds.images[0].boxes)
    assert back.labels.tolist() == [FACE, PLATE]
    assert back.scores == pytest.approx([0.8765, 0.5])
    assert ds.videos[0].frames[0][0].object_id == "3"
    assert ds.videos[0].frames[2] == ()
    assert not list((tmp_path / "out").glob(".*tmp*"))  # atomic write leaves nothing behind


@pytest.mark.shared_data
def test_shared_wider_faces_load(shared_data: Path) -> None:
    path = shared_data / "faces_wider_val" / "annotations.json"
    if not path.is_file():
        pytest.skip("faces_wider_val not present")
    ds = load_dataset(path)
    boxes = [b for im in ds.images for b in im.boxes]
    assert len(ds.images) > 100 and all(b.label == "face" for b in boxes)
    assert all(b.ignore for b in boxes if b.width == 0 or b.height == 0)


@pytest.mark.parametrize(
    "bad",
    [
        {"x1": 123.45, "x2": 67.89},  # inverted
        {"x1": "123.45"},  # a string where a number goes
        {"score": "0.8765"},
        {"score": float("nan"), "x1": 123.45, "x2": 167.89},
        {"label": "face 123.45"},
        {"id": [123.45]},
        {"ignore": 0.8765},
    ],
)
def test_box_errors_name_file_image_and_index_never_values(tmp_path: Path, bad: dict) -> None:
    """A --json output is read back by veil eval; its errors reach logs, so they must not
    carry a detection's coordinates or score."""
    good = _box(x1=123.45, y1=50.5, x2=167.89, y2=90.25, score=0.8765)
    doc = {"images": [{"file": "sub/a.jpg", "width": 640, "height": 480,
                       "boxes": [good, {**good, **bad}]}]}  # fmt: skip
    path = _write(tmp_path, doc, ("sub/a.jpg",))
    with pytest.raises(InputError) as exc:
        load_dataset(path)
    text = str(exc.value)
    assert str(path) in text and "images[0].boxes[1]" in text and "sub/a.jpg" in text
    for value in ("123.45", "167.89", "50.5", "90.25", "0.8765"):
        assert value not in text, text


def test_video_box_errors_name_the_frame_and_file(tmp_path: Path) -> None:
    doc = {"videos": [{"file": "v.mp4", "frames": [{"index": 4, "boxes": [_box(x2=0.5)]}]}]}
    with pytest.raises(InputError, match=r"videos\[0\]\.frames\[0\]\.boxes\[0\] \(in v\.mp4\)"):
        load_dataset(_write(tmp_path, doc, ("v.mp4",)))
