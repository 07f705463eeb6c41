"""Lines of text that identify people: PP-OCR (rapidocr) reads them, veil.pii judges them.

The PP-OCR detection and recognition models ship inside the rapidocr wheel (the
``text`` extra); nothing is downloaded. Each line the detector finds is read,
and under ``--text pii`` kept only when :func:`veil.pii.categories` finds
personal data in it; ``--text all`` keeps every line read at the threshold.

The recognised text is personal data. It lives in this module's locals for the
decision only: it is never logged (rapidocr's own logger, which prints every
reading, is silenced), never stored, never returned. What leaves is a box, a
score and the categories (:attr:`TextDetector.tally`), never a character.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ModelError
from ..pii import PiiRules, categories, load_terms
from ..regions import TEXT, Regions

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TextLine:
    """One line found: its box in the frame, its recognition score, its categories."""

    xyxy: tuple[float, float, float, float]
    score: float
    categories: frozenset[str]

    def __repr__(self) -> str:  # no coordinates in logs
        return f"TextLine(categories={sorted(self.categories)})"


def _engine(max_side: int, device: str, threads: int):  # noqa: ANN202 - rapidocr.RapidOCR
    try:
        from rapidocr import RapidOCR
    except ImportError:
        raise ModelError(
            "the text target needs rapidocr and the PII checks: pip install 'veil[text]'"
        ) from None
    for name in ("RapidOCR", "rapidocr"):  # its logger prints what it reads
        logging.getLogger(name).setLevel(logging.CRITICAL)
    params = {
        "Global.log_level": "critical",
        "Global.use_cls": False,  # upright text; the 180-degree classifier is another network
        "Global.max_side_len": max_side,
        "Global.text_score": 0.0,  # the threshold is applied here, per call
        "Det.limit_type": "max",
        "Det.limit_side_len": max_side,
        "EngineConfig.onnxruntime.intra_op_num_threads": threads or -1,
        "EngineConfig.onnxruntime.use_cuda": device == "cuda",
    }
    return RapidOCR(params=params)


class TextDetector:
    """Text lines (label ``text``) in a frame: those with personal data, or all of them.

    ``every`` > 1 runs the networks on one call in ``every`` and returns nothing
    on the others: video text is static or moves with the camera, and the
    tracker carries it between the runs that see it. A call whose frame no longer
    looks like the last one read (a scene cut, a new document held up: the mean
    difference of 32x18 grey thumbnails over ``change``) is read at once, or the
    text of a new scene would stay unmasked until the next turn.
    """

    label = TEXT

    def __init__(
        self,
        mode: str = "pii",
        rules: PiiRules | None = None,
        *,
        max_side: int = 1920,
        every: int = 1,
        change: float = 20.0,
        device: str = "cpu",
        threads: int = 0,
    ) -> None:
        if mode not in ("pii", "all"):
            raise ModelError(f"text mode must be pii or all, got {mode!r}")
        self.mode = mode
        self.rules = rules or PiiRules()
        self.max_side = max_side
        self.every = max(1, int(every))
        self.change = change
        self._since = 0  # calls since the last read
        self._thumb: np.ndarray | None = None
        self._ocr = _engine(max_side, device, threads)
        #: lines kept, by category (``all`` counts lines without one as ``text``)
        self.tally: Counter[str] = Counter()
        #: the lines kept since the project code last took them (project/textcats.py)
        self.kept: list[TextLine] = []

    def detect(self, rgb: np.ndarray, threshold: float) -> Regions:
        """Boxes of the kept lines scoring at least ``threshold`` in an RGB frame."""
        if self.every > 1:
            thumb = _thumb(rgb)
            changed = self._thumb is None or float(np.abs(thumb - self._thumb).mean()) > self.change
            if self._since % self.every and not changed:
                self._since += 1
                return Regions.empty()
            self._since, self._thumb = 1, thumb
        lines = self.read(rgb, threshold)
        if not lines:
            return Regions.empty()
        for line in lines:
            self.tally.update(line.categories or ("text",))
        self.kept.extend(lines)
        h, w = rgb.shape[:2]
        xyxy = np.array([line.xyxy for line in lines], np.float32)
        scores = np.array([line.score for line in lines], np.float32)
        return Regions(xyxy, scores, np.full(len(lines), TEXT, np.int16)).clip(w, h)

    def read(self, rgb: np.ndarray, threshold: float) -> list[TextLine]:
        """The kept lines: read, judged and dropped (the text goes no further than here)."""
        h, w = rgb.shape[:2]
        if h < 8 or w < 8:
            return []
        scale = min(1.0, self.max_side / max(h, w))
        img = rgb
        if scale < 1.0:
            from PIL import Image

            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            img = np.asarray(Image.fromarray(rgb).resize(size, Image.BILINEAR))
        result = self._ocr(np.ascontiguousarray(img[..., ::-1]))  # it expects BGR
        boxes = getattr(result, "boxes", None)
        if boxes is None or not len(boxes):
            return []
        out: list[TextLine] = []
        texts = result.txts or ()
        scores = result.scores or ()
        for quad, text, score in zip(boxes, texts, scores, strict=False):
            if float(score) < threshold:
                continue
            found = categories(str(text), self.rules) if self.mode == "pii" else frozenset()
            if self.mode == "pii" and not found:
                continue
            q = np.asarray(quad, np.float32).reshape(-1, 2) / scale
            box = (float(q[:, 0].min()), float(q[:, 1].min()), float(q[:, 0].max()),
                   float(q[:, 1].max()))  # fmt: skip
            out.append(TextLine(box, float(score), found))
        del texts, result
        return out


def _thumb(rgb: np.ndarray) -> np.ndarray:
    """A 32x18 grey thumbnail: enough to tell a new scene from the last one read."""
    from PIL import Image

    return np.asarray(Image.fromarray(rgb).convert("L").resize((32, 18)), np.float32)


def rules_for(
    categories_on: tuple[str, ...], regions: tuple[str, ...], terms: Path | None
) -> PiiRules:
    """The PII rules of a run: its categories, phone regions and the user's terms file."""
    return PiiRules(
        enabled=categories_on,
        regions=regions,
        terms=load_terms(terms) if terms is not None else (),
    )


__all__ = ["TextDetector", "TextLine", "rules_for"]
