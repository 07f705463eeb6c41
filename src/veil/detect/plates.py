"""YOLOv8-format detector (bundled: single-class licence plates).

The graph takes RGB/255 NCHW and returns ``[1, 4+C, N]`` rows of
cx, cy, w, h and C class scores; we do the letterboxing and NMS ourselves so no
torch/ultralytics is needed at run time. Padding is grey 114 (as in training)
and only up to the next multiple of 32, so a 16:9 frame at 640 costs 640x384.

Distant plates (dash-cam) are often under ~20 px and vanish when a 1280 px
frame is shrunk to 640; with ``tile`` on, the frame is also seen at ``tile_zoom``
times the full-pass scale (at most native size): in one run when that enlarged
frame is at most :data:`WHOLE_PIXELS`, else cut into overlapping tiles run a few
at a time (``faces.TILE_BATCH``); the passes are merged by NMS.

Plates are found by their contrast, not their colour, and a strong colour cast
(tail lights, sodium lamps, night dash-cams) hid plates from both bundled
models, so by default they are shown the frame's luma (see :func:`plate_view`).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import ConfigError, ModelError
from ..regions import PLATE, Regions, nms
from ..settings import PLATE_INPUTS
from .faces import TILE_BATCH, cut_by_inner_edge, merge_union, pad_to, resize, tile_origins
from .onnx import load_session

log = logging.getLogger(__name__)

ALIGN = 32
PAD_VALUE = 114
BUNDLED = Path(__file__).resolve().parents[1] / "models" / "plate_yolov8n.onnx"
#: an enlarged frame of at most this many pixels is run whole, not in tiles. A run
#: costs about its pixels, and the tiles' overlap made a 1280x720 frame six 640x640
#: tiles (2.7x its pixels; 1024x768: four, 2.1x); whole, the pass took about half the
#: time, with the same plates masked (docs/photos.md). At the default size every
#: enlarged frame fits (its long side is at most 1280)
WHOLE_PIXELS = 1280 * 1280


def _align(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


def _stretch(luma: np.ndarray) -> np.ndarray:
    """Map the 1st-99th percentiles of a uint8 image to 0-255 (a flat image is kept)."""
    cdf = np.cumsum(np.bincount(luma.ravel(), minlength=256)) / max(1, luma.size)
    lo, hi = int(np.searchsorted(cdf, 0.01)), int(np.searchsorted(cdf, 0.99))
    if hi <= lo:
        return luma
    lut = np.clip((np.arange(256) - lo) * (255.0 / (hi - lo)), 0, 255).astype(np.uint8)
    return lut[luma]


def _check_view(view: str) -> None:
    if view not in PLATE_INPUTS:
        raise ConfigError(f"plate input must be one of {', '.join(PLATE_INPUTS)}, got {view!r}")


def _prepare(rgb: np.ndarray, scale: float, view: str) -> np.ndarray:
    """``rgb`` resized by ``scale`` in the plate models' view: (H, W, 3) colour or (H, W) luma.

    The luma is taken before resizing, so only one channel is resized.
    """
    _check_view(view)
    if view == "rgb":
        return resize(rgb, scale)
    luma = resize(np.asarray(Image.fromarray(rgb).convert("L")), scale)
    return _stretch(luma) if view == "gray-stretch" else luma


def plate_view(rgb: np.ndarray, view: str) -> np.ndarray:
    """The frame as the plate models see it: ``rgb``, ``gray`` or ``gray-stretch``.

    ``gray`` is the luma (ITU-R 601) in all three channels, so a colour cast
    cannot drown a plate's black-on-white contrast. ``gray-stretch`` also maps
    the 1st-99th luma percentiles to 0-255, for dark or hazy frames.
    """
    out = _prepare(rgb, 1.0, view)
    return out if out.ndim == 3 else np.repeat(out[..., None], 3, axis=2)


class YoloDetector:
    """Boxes of one class from a YOLOv8-format ONNX model (see module docstring)."""

    def __init__(
        self,
        model: str | Path | None = None,
        *,
        label: int = PLATE,
        size: int = 640,
        tile: bool = True,
        tile_zoom: float = 2.0,
        max_tile_scale: float = 1.0,
        tile_overlap: int = 64,
        nms_iou: float = 0.5,
        view: str = "rgb",
        device: str = "cpu",
        threads: int = 0,
    ) -> None:
        if size % ALIGN or size < ALIGN:
            raise ModelError(f"YOLO input size must be a multiple of {ALIGN}, got {size}")
        self.path = Path(model) if model is not None else BUNDLED
        self.session = load_session(self.path, device, threads)
        check_yolo(self.session, self.path)
        self.input_name = self.session.get_inputs()[0].name
        self.label = label
        self.size = size
        self.tile = tile
        self.tile_zoom = tile_zoom
        self.max_tile_scale = max_tile_scale
        self.tile_overlap = tile_overlap
        self.nms_iou = nms_iou
        _check_view(view)
        self.view = view

    def detect(self, rgb: np.ndarray, threshold: float, shared: dict | None = None) -> Regions:
        """Boxes scoring at least ``threshold`` in an (H, W, 3) uint8 RGB frame.

        ``shared`` holds this ``rgb``'s prepared views between models that see the
        same ones (the bundled pair): each prepared them anew.
        """
        h, w = rgb.shape[:2]
        if h == 0 or w == 0:
            return Regions.empty()
        memo = {} if shared is None else shared
        scale = self.size / max(h, w)
        img = self._prepared(rgb, scale, memo)
        ih, iw = img.shape[:2]
        batch = pad_to(img, _align(ih), _align(iw), PAD_VALUE)[None]
        ((boxes, scores),) = self._run(batch, threshold)
        parts = [(boxes / scale, scores)]
        tile_scale = min(self.max_tile_scale, scale * self.tile_zoom)
        if self.tile and tile_scale > scale * 1.01:
            parts.append(self._tiles(self._prepared(rgb, tile_scale, memo), tile_scale, threshold))
        xyxy = np.concatenate([p[0] for p in parts])
        sc = np.concatenate([p[1] for p in parts])
        xyxy, sc = merge_union(xyxy, sc, self.nms_iou)
        return Regions(xyxy, sc, np.full(len(sc), self.label, np.int16)).clip(w, h)

    def _prepared(self, rgb: np.ndarray, scale: float, memo: dict) -> np.ndarray:
        """``_prepare(rgb, scale, view)``, once per view and scale in ``memo``."""
        if (self.view, scale) not in memo:
            memo[self.view, scale] = _prepare(rgb, scale, self.view)
        return memo[self.view, scale]

    def _tiles(self, img: np.ndarray, scale: float, threshold: float):
        """The pass over ``img``, the frame's view already enlarged by ``scale``."""
        ih, iw = img.shape[:2]
        if ih * iw <= WHOLE_PIXELS:
            whole = pad_to(img, _align(ih), _align(iw), PAD_VALUE)[None]
            ((boxes, scores),) = self._run(whole, threshold)
            return boxes / scale, scores
        ts, ov = self.size, self.tile_overlap
        th, tw = min(ts, _align(ih)), min(ts, _align(iw))
        origins = [(y, x) for y in tile_origins(ih, th, ov) for x in tile_origins(iw, tw, ov)]
        found: list[tuple[np.ndarray, np.ndarray]] = []
        for i in range(0, len(origins), TILE_BATCH):  # a few at a time: faster, flat memory
            batch = np.stack(
                [
                    pad_to(img[y : y + th, x : x + tw], th, tw, PAD_VALUE)
                    for y, x in origins[i : i + TILE_BATCH]
                ]
            )
            found.extend(self._run(batch, threshold))
        out_b, out_s = [], []
        for (y, x), (boxes, scores) in zip(origins, found, strict=True):
            keep = ~cut_by_inner_edge(boxes, x, y, tw, th, iw, ih)
            out_b.append(boxes[keep] + np.array([x, y, x, y], np.float32))
            out_s.append(scores[keep])
        return np.concatenate(out_b) / scale, np.concatenate(out_s).astype(np.float32)

    def _run(self, batch: np.ndarray, threshold: float) -> list[tuple[np.ndarray, np.ndarray]]:
        if batch.ndim == 3:  # luma: the same plane in the three input channels
            x = np.repeat(batch[:, None].astype(np.float32) * (1 / 255.0), 3, axis=1)
        else:
            x = np.ascontiguousarray(batch.transpose(0, 3, 1, 2), dtype=np.float32) / 255.0
        (pred,) = self.session.run(None, {self.input_name: x})
        return [decode(p, threshold, self.nms_iou) for p in pred]


def decode(pred: np.ndarray, threshold: float, nms_iou: float) -> tuple[np.ndarray, np.ndarray]:
    """``[4+C, N]`` rows (cx, cy, w, h, class scores) -> NMS'd (boxes, scores).

    With several classes the best class score is used: a plug-in model is
    expected to detect the one kind of object it was given for.
    """
    scores = pred[4:].max(axis=0)
    keep = scores >= threshold
    if not keep.any():
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
    cx, cy, bw, bh = pred[:4, keep]
    boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1)
    scores = scores[keep].astype(np.float32)
    order = nms(boxes, scores, nms_iou)
    return boxes[order].astype(np.float32), scores[order]


def check_yolo(session, path: Path) -> None:
    """Raise :class:`ModelError` unless the graph looks like YOLOv8 detection."""
    ins, outs = session.get_inputs(), session.get_outputs()
    ok = len(ins) == 1 and len(ins[0].shape) == 4 and len(outs) == 1 and len(outs[0].shape) == 3
    chans = outs[0].shape[1] if ok else None
    if not ok or (isinstance(chans, int) and chans < 5):
        raise ModelError(
            f"{path} is not a YOLOv8-format detection model: expected one NCHW input and one "
            f"output [1, 4+C, N] (cx, cy, w, h, class scores), got inputs "
            f"{[i.shape for i in ins]} and outputs {[o.shape for o in outs]}"
        )
