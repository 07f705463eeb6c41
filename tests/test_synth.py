"""Synthetic moving-camera clips: ground truth follows the picture (no shared data)."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from veil.evaluate import load_dataset
from veil.evaluate.synth import MotionSpec, build_benchmark, make_clip, transform_boxes

SIZE = (320, 180)


def still() -> tuple[np.ndarray, list[dict]]:
    """Dark 640x360 image with a white rectangle (the object) and a small second one."""
    img = np.full((360, 640, 3), 30, np.uint8)
    img[150:210, 300:360] = 255  # object 0: 60x60
    img[20:24, 20:24] = 255  # object 1: 4 px, tiny once scaled
    boxes = [
        {"label": "face", "x1": 300, "y1": 150, "x2": 360, "y2": 210, "ignore": False},
        {"label": "face", "x1": 20, "y1": 20, "x2": 24, "y2": 24, "ignore": False},
    ]
    return img, boxes


def decode(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def bright_bbox(frame: np.ndarray) -> tuple[int, int, int, int] | None:
    ys, xs = np.nonzero(frame.mean(axis=2) > 200)
    if not len(xs):
        return None
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


@pytest.mark.parametrize("kind", ["pan", "zoom", "whip"])
def test_boxes_follow_the_object(tmp_path: Path, kind: str) -> None:
    img, boxes = still()
    spec = MotionSpec(kind, zoom=(1.5, 1.5) if kind != "zoom" else (1.0, 2.0), travel=1.0)
    out = tmp_path / "clip.mp4"
    gt = make_clip(img, boxes, spec, out, frames=12, size=SIZE, seed=1)
    frames = decode(out)
    assert len(frames) == len(gt) == 12
    assert [f["index"] for f in gt] == list(range(12))
    assert frames[0].shape == (SIZE[1], SIZE[0], 3)
    checked = 0
    for f, fgt in zip(frames, gt, strict=True):
        obj = [b for b in fgt["boxes"] if b["id"] == 0]
        bb = bright_bbox(f)
        if not obj or obj[0]["ignore"] or bb is None:
            continue
        b = obj[0]
        # bright pixels lie inside the GT box (a couple of px for resampling, blur, x264)
        tol = 3 if kind != "whip" else 12
        assert bb[0] >= b["x1"] - tol and bb[2] <= b["x2"] + tol, (bb, b)
        assert bb[1] >= b["y1"] - tol and bb[3] <= b["y2"] + tol, (bb, b)
        # and the box centre is bright: the box is on the object, not just around it
        cx, cy = int((b["x1"] + b["x2"]) / 2), int((b["y1"] + b["y2"]) / 2)
        assert f[cy, cx].mean() > 150
        checked += 1
    assert checked >= 4


def test_pan_moves_the_box_and_keeps_ids(tmp_path: Path) -> None:
    img, boxes = still()
    spec = MotionSpec("pan", zoom=(1.5, 1.5), travel=1.0, shake_px=0.0)
    gt = make_clip(img, boxes, spec, tmp_path / "p.mp4", frames=10, size=SIZE)
    xs = [next(b["x1"] for b in f["boxes"] if b["id"] == 0) for f in gt if f["boxes"]]
    assert xs[0] - xs[-1] > 50  # camera pans right: the object moves left
    assert all(a >= b for a, b in zip(xs, xs[1:], strict=False))
    tiny = [b for f in gt for b in f["boxes"] if b["id"] == 1]
    assert all(b["ignore"] for b in tiny)  # under 10 px tall after the transform


def test_transform_drops_and_ignores_outside_boxes() -> None:
    boxes = [
        {"label": "plate", "x1": 0, "y1": 0, "x2": 40, "y2": 20, "id": 0},  # fully inside
        {"label": "plate", "x1": 90, "y1": 0, "x2": 130, "y2": 20, "id": 1},  # 25% visible
        {"label": "plate", "x1": 200, "y1": 0, "x2": 240, "y2": 20, "id": 2},  # outside
        {"label": "plate", "x1": 10, "y1": 40, "x2": 20, "y2": 48, "id": 3},  # 8 px tall
        {"label": "face", "x1": 10, "y1": 60, "x2": 40, "y2": 90, "ignore": True, "id": 4},
    ]
    out = transform_boxes(boxes, (0.0, 0.0, 1.0), (100, 100))
    by_id = {b["id"]: b for b in out}
    assert set(by_id) == {0, 1, 3, 4}
    assert not by_id[0]["ignore"]
    assert by_id[1]["ignore"] and by_id[1]["x2"] == 100
    assert by_id[3]["ignore"] and by_id[4]["ignore"]
    # a 2x zoom makes the 8 px box 16 px tall: scored again
    out2 = transform_boxes(boxes, (0.0, 0.0, 2.0), (400, 400))
    assert not {b["id"]: b for b in out2}[3]["ignore"]


def test_build_benchmark_loads_and_is_deterministic(tmp_path: Path) -> None:
    img, boxes = still()
    data = tmp_path / "data"
    (data / "images").mkdir(parents=True)
    Image.fromarray(img).save(data / "images" / "a.png")
    Image.fromarray(img[:, ::-1].copy()).save(data / "images" / "b.png")
    flipped = [{**b, "x1": 640 - b["x2"], "x2": 640 - b["x1"]} for b in boxes]
    doc = {"images": [
        {"file": "images/a.png", "width": 640, "height": 360, "boxes": boxes},
        {"file": "images/b.png", "width": 640, "height": 360, "boxes": flipped},
        {"file": "images/none.png", "width": 640, "height": 360, "boxes": []},
    ]}  # fmt: skip
    (data / "annotations.json").write_text(json.dumps(doc))
    kw = {"n_clips": 3, "frames_per_clip": 6, "seed": 3, "labels": ("face",), "size": SIZE}
    j1 = build_benchmark(data / "annotations.json", tmp_path / "b1", **kw)
    j2 = build_benchmark(data / "annotations.json", tmp_path / "b2", **kw)
    d1, d2 = json.loads(j1.read_text()), json.loads(j2.read_text())
    assert len(d1["videos"]) == 2  # the image without boxes is never used
    assert [v["frames"] for v in d1["videos"]] == [v["frames"] for v in d2["videos"]]
    ds = load_dataset(j1)
    assert len(ds.videos) == 2 and ds.labels == ("face",)
    for v in ds.videos:
        assert sorted(v.frames) == list(range(6))
        assert (v.width, v.height) == SIZE
        assert {b.object_id for fr in v.frames.values() for b in fr} <= {"0", "1"}
        assert len(decode(v.file)) == 6


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="kind"):
        MotionSpec("spin")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="zoom"):
        MotionSpec("zoom", zoom=(0.5, 1.0))
    img, boxes = still()
    with pytest.raises(ValueError, match="even"):
        make_clip(img, boxes, MotionSpec(), "/tmp/never.mp4", size=(321, 180))
