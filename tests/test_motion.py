"""Camera motion: phase-correlation shifts, motion-aware scene cuts, scene-coordinate tracking."""

from __future__ import annotations

import numpy as np
import pytest

from veil.errors import ConfigError
from veil.pipeline import Engine
from veil.regions import FACE, Regions
from veil.settings import DetectSettings, Settings, TrackSettings
from veil.track import STILL, CameraMotion, SceneCutDetector

#: the stand-in detectors here find faces only, so faces are the only target
FACES = Settings(detect=DetectSettings(targets=("face",)))

FRAME_W, FRAME_H = 320, 180


def _canvas(seed: int = 0, w: int = 900, h: int = 260, block: int = 6) -> np.ndarray:
    """A textured panorama: random blocks, smoothed a little like a real picture."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, (h // block + 1, w // block + 1, 3)).astype(np.float32)
    img = np.kron(blocks, np.ones((block, block, 1), np.float32))[:h, :w]
    img = (img + np.roll(img, 1, 0) + np.roll(img, 1, 1) + np.roll(img, (1, 1), (0, 1))) / 4
    return img.astype(np.uint8)


def _view(canvas: np.ndarray, x: float, y: float) -> np.ndarray:
    xi, yi = round(x), round(y)
    return np.ascontiguousarray(canvas[yi : yi + FRAME_H, xi : xi + FRAME_W])


def test_estimates_pan_shift_to_within_a_pixel():
    canvas = _canvas()
    cam = CameraMotion()
    assert cam.estimate(_view(canvas, 100, 40)) == STILL  # first frame
    path = [(100, 40), (107, 40), (131, 37), (131, 37), (96, 52), (20, 60)]
    for (x0, y0), (x1, y1) in zip(path, path[1:], strict=False):
        dx, dy, zoom = cam.estimate(_view(canvas, x1, y1))
        assert zoom == 1.0
        # the picture moves opposite to the camera
        assert abs(dx - (x0 - x1)) <= 1.0 and abs(dy - (y0 - y1)) <= 1.0, (x1, y1, dx, dy)


def test_no_shift_from_a_flat_picture_or_a_cut():
    cam = CameraMotion()
    flat = np.full((FRAME_H, FRAME_W, 3), 128, np.uint8)
    cam.estimate(flat)
    assert cam.estimate(flat) == STILL
    cam.reset()
    cam.estimate(_view(_canvas(1), 0, 0))
    assert cam.estimate(_view(_canvas(2, block=11), 0, 0)) == STILL  # another scene

    assert cam.last_peak < cam.min_peak


def _zoomed_view(canvas: np.ndarray, zoom: float, cx: float = 450, cy: float = 130) -> np.ndarray:
    """The frame a camera centred on (cx, cy) sees at ``zoom`` (1 = FRAME_W canvas pixels)."""
    from PIL import Image

    w, h = FRAME_W / zoom, FRAME_H / zoom
    box = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
    img = Image.fromarray(canvas).resize((FRAME_W, FRAME_H), Image.BILINEAR, box=box)
    return np.asarray(img)


def test_estimates_a_zoom_and_maps_points_through_it():
    canvas = _canvas(4, block=5)
    cam = CameraMotion()
    zooms = [1.0, 1.04, 1.1, 1.1, 1.05]
    cam.estimate(_zoomed_view(canvas, zooms[0]))
    for before, after in zip(zooms, zooms[1:], strict=False):
        m = cam.estimate(_zoomed_view(canvas, after))
        assert m.zoom == pytest.approx(after / before, abs=0.01), (before, after, m)
        assert abs(m.dx) < 1.5 and abs(m.dy) < 1.5  # zoom about the centre: no shift


@pytest.mark.parametrize(
    "kwargs, name",
    [({"width": 8}, "width"), ({"width": True}, "width"), ({"min_peak": 0}, "min_peak")],
)
def test_camera_motion_rejects_bad_values_naming_them(kwargs, name):
    with pytest.raises(ConfigError, match=name):
        CameraMotion(**kwargs)


def test_whip_pan_is_not_a_cut_once_aligned():
    canvas = _canvas()
    xs = [10] * 10 + [10 + 45 * i for i in range(1, 9)] + [370] * 6
    plain, aligned, cam = SceneCutDetector(), SceneCutDetector(), CameraMotion()
    plain_cuts, aligned_cuts = [], []
    for f, x in enumerate(xs):
        img = _view(canvas, x, 30)
        shift = cam.estimate(img)[:2]
        if plain.is_cut(img):
            plain_cuts.append(f)
        if aligned.is_cut(img, shift):
            aligned_cuts.append(f)
    assert plain_cuts, "the whip should look like a cut without alignment (test is too easy)"
    assert aligned_cuts == []


def test_a_real_cut_is_still_found_with_a_shift():
    det, cam = SceneCutDetector(), CameraMotion()
    a, b = _canvas(1), _canvas(2, block=11)
    cuts = []
    for f in range(24):
        img = _view(a if f < 12 else b, 5 * f, 20)
        if det.is_cut(img, cam.estimate(img)[:2]):
            cuts.append(f)
    assert cuts == [12]


# -- tracking in scene coordinates ------------------------------------------------


class _ScriptedFaces:
    """A detector double that reports the true box, except on the frames in ``misses``."""

    label = FACE

    def __init__(self, boxes: list[np.ndarray], misses: set[int]) -> None:
        self.boxes, self.misses, self.calls = boxes, misses, 0

    def detect(self, rgb: np.ndarray, threshold: float) -> Regions:
        i, self.calls = self.calls, self.calls + 1
        if i in self.misses:
            return Regions.empty()
        return Regions(self.boxes[i][None], np.array([0.9], np.float32), np.array([FACE]))


def _whip_clip():
    """Camera still, a sudden whip of 3 frames, still again; a face fixed in the scene."""
    canvas = _canvas(3)
    xs = [60] * 10 + [110, 160, 210] + [210] * 17
    face = np.array([330.0, 90.0, 366.0, 130.0])  # canvas coordinates
    frames = [_view(canvas, x, 40) for x in xs]
    boxes = [face - np.array([x, 40, x, 40], np.float32) for x in xs]
    return frames, boxes


def _leaked_frames(frames, boxes, misses: set[int], camera_motion: bool) -> list[int]:
    """Frames whose true box's central region no output region contains."""
    track = TrackSettings(camera_motion=camera_motion, motion_margin=0.0, detect_every=1)
    engine = Engine(FACES.evolve(track=track), detectors=[_ScriptedFaces(boxes, misses)])
    leaked = []
    for i, (_, regions) in enumerate(engine.video_regions(iter(frames))):
        b = boxes[i]
        cw, ch = 0.2 * (b[2] - b[0]), 0.2 * (b[3] - b[1])
        core = b + np.array([cw, ch, -cw, -ch])
        inside = (regions.xyxy[:, :2] <= core[:2]).all(axis=1) & (
            regions.xyxy[:, 2:] >= core[2:]
        ).all(axis=1)
        if not inside.any():
            leaked.append(i)
    return leaked


def _leaks(camera_motion: bool) -> list[int]:
    frames, boxes = _whip_clip()
    misses = set(range(10, 19))  # blurred by the whip and just after: the detector misses
    return _leaked_frames(frames, boxes, misses, camera_motion)


def test_gap_during_a_whip_is_filled_in_scene_coordinates():
    assert _leaks(camera_motion=True) == []


def test_frame_coordinate_interpolation_leaks_on_the_same_clip():
    """The control: without camera motion the same gap is filled beside the face."""
    assert _leaks(camera_motion=False)


def test_camera_motion_setting_is_validated():
    with pytest.raises(ConfigError, match="camera_motion"):
        TrackSettings(camera_motion="yes")  # type: ignore[arg-type]


def test_detect_every_also_detects_the_last_frame():
    """Nothing follows the last frame to fill a gap from, so it is always detected."""
    calls: list[int] = []

    class Counting:
        label = FACE

        def detect(self, rgb: np.ndarray, threshold: float) -> Regions:
            calls.append(int(rgb[0, 0, 0]))
            return Regions.empty()

    frames = [np.full((36, 64, 3), i, np.uint8) for i in range(8)]
    engine = Engine(FACES.evolve(track=TrackSettings(detect_every=3)), detectors=[Counting()])
    out = list(engine.video_regions(iter(frames)))
    assert [int(rgb[0, 0, 0]) for rgb, _ in out] == list(range(8))
    assert calls == [0, 3, 6, 7]


def test_faces_at_the_edge_of_a_fast_zoom_are_covered_from_later_detections():
    """A fast zoom-out at the start blurs the picture: the detector only finds the face later.

    In scene coordinates the face stands still, so masking it on the blurred
    frames before its first detection lands on it; in frame coordinates the
    same box would be far from where the zoom put the face.
    """
    canvas = _canvas(5, block=5)
    zooms = [1.6, 1.45, 1.32, 1.22, 1.15, 1.1, 1.06, 1.03, 1.0, 1.0, 1.0, 1.0]
    face = np.array([500.0, 140.0, 525.0, 170.0])  # canvas coordinates, off-centre
    cx, cy = 450, 130

    def frame_box(z):
        w, h = FRAME_W / z, FRAME_H / z
        x0, y0 = cx - w / 2, cy - h / 2
        return (face - np.array([x0, y0, x0, y0])) * z

    frames = [_zoomed_view(canvas, z) for z in zooms]
    boxes = [frame_box(z) for z in zooms]
    assert all(b[0] >= 0 and b[2] <= FRAME_W and b[1] >= 0 and b[3] <= FRAME_H for b in boxes)
    assert boxes[0][0] - boxes[5][0] > 20  # the zoom moves the face far
    misses = set(range(5))  # the first five frames are too blurred to detect

    assert _leaked_frames(frames, boxes, misses, camera_motion=True) == []
    # the control: a static box misses the moving face
    assert _leaked_frames(frames, boxes, misses, camera_motion=False)


@pytest.mark.parametrize("mode", ["constant", "nearest"])
def test_zoom_about_centre_is_scipys_bilinear_affine_transform(mode):
    """The zoom veil does itself (scipy.ndimage costs 0.1-0.15 s to import) gives what
    scipy's order-1 affine transform gives, edges included."""
    from scipy.ndimage import affine_transform

    from veil.track.motion import zoom_about_centre

    rng = np.random.default_rng(7)
    for _ in range(100):
        h, w = rng.integers(2, 90, 2)
        img = rng.random((h, w)).astype(np.float32)
        z = float(rng.choice([1.0, rng.uniform(0.7, 1.4)]))
        c = np.array([(h - 1) / 2, (w - 1) / 2])
        want = affine_transform(img, np.full(2, 1 / z), offset=c - c / z, order=1, mode=mode)
        got = zoom_about_centre(img, z, mode)
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_allclose(got, want, atol=1e-6)
