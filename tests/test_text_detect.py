"""The text target: PP-OCR lines judged by veil.pii (skipped without the text extra)."""

from __future__ import annotations

import logging

import numpy as np
import pytest

pytest.importorskip("rapidocr")
pytest.importorskip("phonenumbers")

from PIL import Image, ImageDraw, ImageFont  # noqa: E402

from veil.detect.text import TextDetector  # noqa: E402
from veil.pii import PiiRules  # noqa: E402
from veil.pipeline import Engine  # noqa: E402
from veil.regions import TEXT  # noqa: E402
from veil.settings import DetectSettings, Settings  # noqa: E402

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
LINES = ("Fresh bread every day", "Tel. +48 601 234 567", "Open Monday to Friday", "Kowalski")


def _card() -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """A white card with four lines; their boxes, in LINES order."""
    try:
        font = ImageFont.truetype(FONT, 22)
    except OSError:
        pytest.skip("DejaVu fonts are not installed (apt-get install fonts-dejavu-core)")
    img = Image.new("RGB", (480, 240), (245, 245, 240))
    draw = ImageDraw.Draw(img)
    boxes = []
    for i, line in enumerate(LINES):
        xy = (20, 20 + i * 52)
        draw.text(xy, line, fill=(15, 15, 15), font=font)
        boxes.append(tuple(int(v) for v in draw.textbbox(xy, line, font=font)))
    return np.asarray(img), boxes


def _covers(found: np.ndarray, box: tuple[int, int, int, int]) -> bool:
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return any(x1 <= cx <= x2 and y1 <= cy <= y2 for x1, y1, x2, y2 in found)


@pytest.fixture(scope="module")
def card():
    return _card()


def test_pii_mode_keeps_the_lines_with_personal_data_only(card, caplog) -> None:
    rgb, boxes = card
    det = TextDetector("pii", PiiRules(terms=("kowalski",)))
    with caplog.at_level(logging.DEBUG):
        found = det.detect(rgb, 0.5)
    assert set(found.labels.tolist()) == {TEXT}
    covered = [_covers(found.xyxy, b) for b in boxes]
    assert covered == [False, True, False, True]
    assert det.tally == {"phone": 1, "term": 1}
    logged = " ".join(r.getMessage() for r in caplog.records).lower()
    assert "601" not in logged and "kowalski" not in logged and "bread" not in logged


def test_all_mode_keeps_every_line(card) -> None:
    rgb, boxes = card
    found = TextDetector("all").detect(rgb, 0.5)
    assert all(_covers(found.xyxy, b) for b in boxes)


def test_every_nth_call_runs_on_video(card) -> None:
    rgb, _ = card
    det = TextDetector("all", every=3)
    runs = [len(det.detect(rgb, 0.5)) > 0 for _ in range(4)]
    assert runs == [True, False, False, True]


def test_the_engine_masks_text_as_a_third_target(card) -> None:
    rgb, boxes = card
    settings = Settings(detect=DetectSettings(targets=("text",)))
    engine = Engine(settings)
    masked, covered = engine.mask(rgb, engine.detect(rgb))
    phone = boxes[1]
    bread = boxes[0]
    assert covered[phone[1] : phone[3], phone[0] : phone[2]].mean() > 0.9
    assert covered[bread[1] : bread[3], bread[0] : bread[2]].mean() < 0.1
