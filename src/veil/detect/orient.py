"""Faces at any angle: photos stored sideways, people lying down, cameras upside down.

Face networks are trained on upright faces; a face turned by 90 degrees or
more scores near zero. Running the whole multi-pass detector four times would
quadruple the cost and the false masks, so the picture's dominant orientation
is found first by a cheap probe: one small pass of the face network on the
frame turned by 0, 90, 180 and 270 degrees. The full detector then runs in the
orientation with the most face evidence (upright unless another clearly wins),
and confident faces the probe found in the other orientations are kept too
(one person lying down in an upright crowd).

Video: a camera's mounting is fixed, so the probe runs on a clip's first frame.
One street frame can fool it (signs and windows scored as turned faces), so a
clip judged turned is probed again on its next detector runs, and the evidence of
all :data:`CLIP_PROBES` frames decides; until then, and for a clip that stays
judged turned, the upright passes run as well.
"""

from __future__ import annotations

import numpy as np

from ..regions import Regions, iou_matrix, nms_regions

#: long side of the probe pass (a single pass: ~10 ms for YuNet-n)
PROBE_SIDE = 640
#: probe detections counted as evidence of an orientation
EVIDENCE_SCORE = 0.3
#: another orientation wins only with this much more evidence than upright ...
SWITCH_RATIO = 1.5
#: ... and at least this much (one sure face, or two likely ones): a lone weak
#: detection in a turned street scene must not turn a whole clip sideways
MIN_EVIDENCE = 0.75
#: probe detections in another orientation kept as faces without the full passes
KEEP_SCORE = 0.6
#: a kept probe face overlapping a found one by more than this IoU is the same face
OVERLAP = 0.3
#: detector runs whose probe evidence, summed, decides a clip judged turned
CLIP_PROBES = 3


def turn(rgb: np.ndarray, k: int) -> np.ndarray:
    """``rgb`` turned counter-clockwise by ``k`` quarter turns (a contiguous copy)."""
    return np.ascontiguousarray(np.rot90(rgb, k % 4)) if k % 4 else rgb


def unturn(regions: Regions, k: int, width: int, height: int) -> Regions:
    """Regions found in ``turn(frame, k)`` mapped back onto the frame (``width`` x ``height``)."""
    k %= 4
    if not k or not len(regions):
        return regions
    x1, y1, x2, y2 = regions.xyxy.T.astype(np.float64)
    w, h = width, height
    for step in range(k):
        # undo the last quarter turn left: (x', y') = (y, W - x), W the width before it
        before = w if (k - step) % 2 else h
        x1, y1, x2, y2 = before - y2, x1, before - y1, x2
    xyxy = np.stack([x1, y1, x2, y2], axis=1).astype(np.float32)
    return Regions(xyxy, regions.scores, regions.labels, regions.track_ids)


def probe(detector, rgb: np.ndarray, shared: dict | None = None, low: float = 1.0) -> list[Regions]:
    """The probe pass in each of the four orientations (turned coordinates).

    With ``shared``, the upright pass is run down to ``min(low, EVIDENCE_SCORE)`` and
    kept there for the detector's own passes over the same picture (its coarse
    pass, or its full pass for a small frame): one network run fewer a photo.
    """
    found = []
    for k in range(4):
        if k or shared is None:
            found.append(detector.single_pass(turn(rgb, k), PROBE_SIDE, EVIDENCE_SCORE))
            continue
        up = detector.single_pass(rgb, PROBE_SIDE, min(low, EVIDENCE_SCORE), shared)
        found.append(up[up.scores >= EVIDENCE_SCORE])
    return found


def evidence_turn(found: list[Regions]) -> int:
    """The quarter turns with the most face evidence (0 unless another clearly wins)."""
    return turn_of(evidence_of(found))


def evidence_of(found: list[Regions]) -> list[float]:
    """Face evidence per orientation: the sum of the probe's scores there."""
    return [float(r.scores.sum()) for r in found]


def turn_of(evidence: list[float] | np.ndarray) -> int:
    """The orientation that clearly has the most ``evidence`` (one sum per turn), else 0."""
    evidence = [float(e) for e in evidence]
    best = int(np.argmax(evidence))
    switch = evidence[best] > SWITCH_RATIO * evidence[0] and evidence[best] >= MIN_EVIDENCE
    return best if switch else 0


class ClipTurn:
    """A video's turn from the probe evidence of its first detector runs, in order.

    Judged upright on a frame, the clip stays upright (no more probes). Judged
    turned, it is probed again until :data:`CLIP_PROBES` frames have been seen,
    and the summed evidence decides, so that one street frame that fools the
    probe costs two runs of a second pass, not the whole clip's.
    """

    def __init__(self) -> None:
        self.turn: int | None = None
        self._sum = np.zeros(4)
        self._probes = 0

    @property
    def settled(self) -> bool:
        return self.turn == 0 or self._probes >= CLIP_PROBES

    def add(self, evidence: list[float] | np.ndarray) -> int:
        """Add one frame's evidence (:func:`evidence_of`); return the turn now."""
        self._sum += np.asarray(evidence, np.float64)
        self._probes += 1
        self.turn = turn_of(self._sum)
        return self.turn


def dominant_turn(detector, rgb: np.ndarray) -> int:
    """Quarter turns that make the frame's faces upright (0 when unsure)."""
    return evidence_turn(probe(detector, rgb))


def detect_any_angle(detector, rgb: np.ndarray, threshold: float) -> Regions:
    """Faces of one frame at any of the four orientations (see the module docstring)."""
    h, w = rgb.shape[:2]
    shared: dict = {}  # the upright probe pass, reused by an upright detection
    low = detector.pass_floor(threshold) if hasattr(detector, "pass_floor") else threshold
    found = probe(detector, rgb, shared, low)
    k = evidence_turn(found)
    # Unsure of the orientation, every enlarged tile runs: faces left sideways barely
    # score in the full passes whose boxes otherwise choose the tiles (faces.TILE_EVIDENCE)
    unsure = float(found[k].scores.sum()) < MIN_EVIDENCE
    if hasattr(detector, "pass_floor"):
        memo = {"all tiles": unsure, **(shared if k == 0 else {})}
        main = unturn(detector.detect(turn(rgb, k), threshold, shared=memo), k, w, h)
    else:
        main = unturn(detector.detect(turn(rgb, k), threshold), k, w, h)
    extra = Regions.concat(
        unturn(r[r.scores >= max(KEEP_SCORE, threshold)], j, w, h)
        for j, r in enumerate(found)
        if j != k
    )
    if len(extra):
        # one face, one box: a face the main pass found is not added again turned
        extra = nms_regions(extra, OVERLAP)
        if len(main):
            extra = extra[iou_matrix(extra.xyxy, main.xyxy).max(axis=1) < OVERLAP]
    return Regions.concat([main, extra]).clip(w, h)
