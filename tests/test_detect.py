"""Detectors: bundled models, tiling/batching geometry, plug-in format checks."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from PIL import Image

from veil.detect import (
    CenterFaceDetector,
    FusedFaceDetector,
    YoloDetector,
    YoloFaceDetector,
    YuNetDetector,
    build_detectors,
    load_session,
)
from veil.detect.faces import resize, tile_origins
from veil.detect.onnx import session_info
from veil.detect.plates import plate_view
from veil.errors import ConfigError, ModelError
from veil.regions import FACE, PLATE, iou_matrix
from veil.settings import DetectSettings

skimage_data = pytest.importorskip("skimage.data")
ASTRONAUT_FACE = np.array([[175, 50, 275, 185]], np.float32)  # by eye, generous


@pytest.fixture(scope="module")
def faces() -> CenterFaceDetector:
    return CenterFaceDetector()


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return skimage_data.astronaut()


def test_astronaut_has_exactly_one_face(faces, astronaut):
    found = faces.detect(astronaut, DetectSettings().face_threshold)
    assert len(found) == 1
    assert found.labels[0] == FACE
    assert iou_matrix(found.xyxy, ASTRONAUT_FACE)[0, 0] > 0.5


def test_bundled_faces_are_fused_for_images_and_yunet_for_video(astronaut):
    (image_faces,) = build_detectors(DetectSettings(targets=("face",)))
    assert isinstance(image_faces, FusedFaceDetector)
    assert [type(m) for m in image_faces.members] == [YuNetDetector, CenterFaceDetector]
    (video_faces,) = build_detectors(DetectSettings(targets=("face",)).for_video())
    assert isinstance(video_faces, CenterFaceDetector)
    assert video_faces.path.name == "centerface.int8.onnx"
    yunet = DetectSettings(targets=("face",), video_face_models="yunet").for_video()
    assert build_detectors(yunet)[0].path.name == "yunet_n.onnx"  # no int8 copy of YuNet
    for d, threshold in ((image_faces, 0.1), (video_faces, DetectSettings().video_face_threshold)):
        found = d.detect(astronaut, threshold)
        assert len(found) == 1
        assert iou_matrix(found.xyxy, ASTRONAUT_FACE)[0, 0] > 0.5
    alone = DetectSettings(targets=("face",), face_models="centerface")
    assert isinstance(build_detectors(alone)[0], CenterFaceDetector)


def test_bundled_yolo_face_network_finds_the_one_face(astronaut):
    (yolo,) = build_detectors(DetectSettings(targets=("face",), face_models="yolo"))
    assert isinstance(yolo, YoloFaceDetector) and yolo.path.name == "face_yolov8n.onnx"
    found = yolo.detect(astronaut, DetectSettings(face_models="yolo").face_threshold)
    assert len(found) == 1
    assert iou_matrix(found.xyxy, ASTRONAUT_FACE)[0, 0] > 0.5
    noise = np.random.default_rng(1).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    assert len(yolo.detect(noise, 0.05)) == 0


@pytest.mark.parametrize("kind", ["blank", "noise"])
def test_no_faces_in_blank_or_noise(faces, kind):
    rng = np.random.default_rng(0)
    frame = (
        np.zeros((720, 1280, 3), np.uint8)
        if kind == "blank"
        else rng.integers(0, 256, (720, 1280, 3), dtype=np.uint8)
    )
    assert len(faces.detect(frame, DetectSettings().face_threshold)) == 0


def test_face_found_at_offset_in_large_canvas(faces, astronaut):
    """A face pasted into a 1080p canvas comes back where it was pasted (tiles + batch)."""
    face = astronaut[30:230, 140:320]  # small crop around the face
    small = np.asarray(Image.fromarray(face).resize((45, 50)))
    canvas = np.full((1080, 1920, 3), 128, np.uint8)
    ox, oy = 1337, 611  # off any tile grid
    canvas[oy : oy + 50, ox : ox + 45] = small
    expect = (ASTRONAUT_FACE - [140, 30, 140, 30]) * [45 / 180, 50 / 200, 45 / 180, 50 / 200]
    expect += [ox, oy, ox, oy]
    tiled = faces.detect(canvas, 0.3)
    assert len(tiled) >= 1
    assert iou_matrix(tiled.xyxy, expect).max() > 0.4
    # The same face without tiling (45 px at native size) lands on the same spot.
    plain = CenterFaceDetector(tile=False).detect(canvas, 0.3)
    assert len(plain) == 1
    assert iou_matrix(plain.xyxy, tiled.xyxy).max() > 0.5


def test_tile_origins_cover_with_overlap():
    for length in (100, 640, 641, 2000, 3841):
        xs = tile_origins(length, 640, 96)
        assert xs[0] == 0 and xs[-1] + 640 >= length
        for a, b in zip(xs, xs[1:], strict=False):
            assert a + 640 - b >= 96


def test_session_cache_and_info():
    path = CenterFaceDetector().path
    assert load_session(path) is load_session(path)
    info = session_info(load_session(path), threads=1)
    assert info["device"] == "cpu" and info["threads"] == 1


@pytest.mark.skipif(
    not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2,
    reason="thread affinity is read from Linux's /proc, and needs two CPUs to differ",
)
def test_automatic_threads_are_not_pinned():
    """threads=0 must not leave onnxruntime's workers pinned to one core each.

    A pinned worker cannot move when the encoder or another process holds its
    core; with onnxruntime's own default a video ran markedly slower under load
    (docs/decide.md, Speed). A fresh process, so that no earlier session counts.
    """
    code = (
        "import os, numpy as np\n"
        "from veil.detect.faces import CenterFaceDetector\n"
        "CenterFaceDetector(tile=False, threads=0).single_pass("
        "np.zeros((96, 128, 3), np.uint8), 128, 0.5)\n"
        "for t in os.listdir('/proc/self/task'):\n"
        "    s = open(f'/proc/self/task/{t}/status').read()\n"
        "    print(s.split('Cpus_allowed_list:')[1].split()[0])\n"
    )
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    masks = set(out.stdout.split())
    assert len(out.stdout.split()) >= 2  # onnxruntime started a worker
    assert len(masks) == 1, f"threads with different CPU masks: {sorted(masks)}"


def test_missing_model_names_path(tmp_path):
    with pytest.raises(ModelError, match="nope.onnx"):
        load_session(tmp_path / "nope.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="bad.onnx"):
        load_session(bad)


def _identity_model(path: Path, out_shape: list) -> Path:
    """A tiny ONNX graph whose single output has ``out_shape`` (format-check fodder)."""
    inp = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, "h", "w"])
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)
    node = helper.make_node("Identity", ["x"], ["y"])
    model = helper.make_model(
        helper.make_graph([node], "g", [inp], [out]), opset_imports=[helper.make_opsetid("", 17)]
    )
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_plugin_with_unknown_format_is_refused_clearly(tmp_path):
    path = _identity_model(tmp_path / "weird.onnx", ["n", 3, "h", "w"])
    for target in ("face", "plate"):
        settings = DetectSettings(targets=(target,), face_model=path, plate_model=path)
        with pytest.raises(ModelError, match="unrecognised model format"):
            build_detectors(settings)


def test_plugin_yolo_format_is_accepted(tmp_path):
    path = Path(YoloDetector().path)
    settings = DetectSettings(targets=("face", "plate"), face_model=path, plate_model=path)
    dets = build_detectors(settings)
    assert [type(d) for d in dets] == [YoloFaceDetector, YoloDetector]
    assert [d.label for d in dets] == [FACE, PLATE]


def test_plugin_yolo_face_model_gets_the_face_settings_not_the_plate_ones():
    """A YOLO-format --face-model was given plate_size, plate_tile and the grey plate view,
    and --face-max-side was ignored: a colour face model saw a contrast-stretched grey frame.
    It now runs the face passes of every face network."""
    path = Path(YoloDetector().path)
    settings = DetectSettings(
        targets=("face", "plate"), face_model=path, plate_model=path,
        face_max_side=800, face_tile=False, plate_size=320, plate_tile=True,
        plate_input="gray-stretch", video_face_max_side=500, video_plate_size=480,
    )  # fmt: skip
    face, plate = build_detectors(settings)
    assert isinstance(face, YoloFaceDetector)
    assert (face.label, face.max_side, face.tile) == (FACE, 800, False)
    assert (plate.label, plate.view, plate.size, plate.tile) == (PLATE, "gray-stretch", 320, True)
    face, plate = build_detectors(settings.for_video())
    assert (face.max_side, face.coarse_side, face.tile) == (500, 250, False)
    assert (plate.view, plate.size, plate.tile) == ("gray-stretch", 480, False)


def test_centerface_as_plate_model_is_refused():
    settings = DetectSettings(targets=("plate",), plate_model=CenterFaceDetector().path)
    with pytest.raises(ModelError, match="YOLOv8"):
        build_detectors(settings)


def test_build_default_detectors():
    dets = build_detectors(DetectSettings())
    assert [d.label for d in dets] == [FACE, PLATE]


def test_resize_box_average_on_exact_shrinks_only():
    img = np.arange(6 * 8 * 3, dtype=np.uint8).reshape(6, 8, 3)
    half = resize(img, 0.5, box_exact=True)
    assert half.shape == (3, 4, 3)
    expected = img.reshape(3, 2, 4, 2, 3).astype(float).mean(axis=(1, 3))
    assert np.abs(half - expected).max() <= 0.5
    assert resize(img, 0.5).shape == (3, 4, 3)  # bilinear unless asked
    assert resize(img, 0.75, box_exact=True).shape == (4, 6, 3)  # not 1/k: bilinear
    assert resize(img, 1.0, box_exact=True) is img


def test_plate_view_gray_is_the_luma_in_every_channel():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (24, 40, 3), dtype=np.uint8)
    assert plate_view(rgb, "rgb") is rgb
    gray = plate_view(rgb, "gray")
    assert gray.shape == rgb.shape and gray.dtype == np.uint8
    assert (gray[..., 0] == gray[..., 1]).all() and (gray[..., 1] == gray[..., 2]).all()
    luma = rgb.astype(float) @ np.array([0.299, 0.587, 0.114])
    assert np.abs(gray[..., 0] - luma).max() <= 1.0
    # a pure colour cast: red light on a white plate and on a dark car reads as contrast
    cast = np.zeros((4, 4, 3), np.uint8)
    cast[:2] = (255, 60, 60)  # plate under red light
    cast[2:] = (120, 0, 0)  # car body
    g = plate_view(cast, "gray")[..., 0]
    assert int(g[0, 0]) - int(g[3, 0]) > 60


def test_plate_view_gray_stretch_spreads_a_dim_frame():
    dim = np.full((50, 50, 3), 40, np.uint8)
    dim[20:30, 10:40] = 70  # a faint plate in a dark frame
    out = plate_view(dim, "gray-stretch")[..., 0]
    assert out.min() == 0 and out.max() == 255
    flat = plate_view(np.full((8, 8, 3), 90, np.uint8), "gray-stretch")
    assert (flat == 90).all()  # nothing to stretch: left as it is
    with pytest.raises(ConfigError, match="'hsv'"):
        plate_view(dim, "hsv")


@pytest.mark.parametrize("view", ["rgb", "gray", "gray-stretch"])
def test_plate_input_reaches_every_bundled_plate_model(view):
    (plates,) = build_detectors(DetectSettings(targets=("plate",), plate_input=view))
    assert [m.view for m in plates.members] == [view, view]
    (video,) = build_detectors(DetectSettings(targets=("plate",), plate_input=view).for_video())
    assert [m.view for m in video.members] == [view, view]


def _shared_data() -> Path:
    env = os.environ.get("VEIL_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.mark.shared_data
@pytest.mark.parametrize("view", ["rgb", "gray"])
def test_plates_found_on_shared_data(view):
    root = _shared_data() / "plates_openalpr"
    if not root.is_dir():
        pytest.skip(f"no shared data at {root}")
    images = json.loads((root / "annotations.json").read_text())["images"][::40][:6]
    det = YoloDetector(tile=False, view=view)
    hits = 0
    for img in images:
        rgb = np.asarray(Image.open(root / img["file"]).convert("RGB"))
        found = det.detect(rgb, DetectSettings().plate_threshold)
        gt = np.array([[b["x1"], b["y1"], b["x2"], b["y2"]] for b in img["boxes"]], np.float32)
        hits += bool(len(found)) and iou_matrix(found.xyxy, gt).max() > 0.3
    assert hits >= len(images) - 1
