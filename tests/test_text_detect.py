"""The text target: PP-OCR lines judged by veil.pii (skipped without the text extra)."""

from __future__ import annotations

import logging

import numpy as np
import pytest

pytest.importorskip("rapidocr")
pytest.importorskip("phonenumbers")

from PIL import Image, ImageDraw  # noqa: E402

from conftest import need_font  # noqa: E402
from veil.detect.text import TextDetector  # noqa: E402
from veil.pii import PiiRules  # noqa: E402
from veil.pipeline import Engine  # noqa: E402
from veil.regions import TEXT  # noqa: E402
from veil.settings import DetectSettings, Settings  # noqa: E402

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
LINES = ("Fresh bread every day", "Tel. +48 601 234 567", "Open Monday to Friday", "Kowalski")


def _card() -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """A white card with four lines; their boxes, in LINES order."""
    font = need_font(FONT, 22)
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


def test_video_text_is_read_on_some_frames_and_carried_between(tmp_path) -> None:
    av = pytest.importorskip("av")
    font = need_font(FONT, 22)
    base = Image.new("RGB", (520, 200), (120, 130, 120))
    draw = ImageDraw.Draw(base)
    draw.rectangle([20, 20, 470, 180], fill=(245, 245, 240))
    draw.text((40, 40), "Fresh bread every day", fill=(10, 10, 10), font=font)
    draw.text((40, 110), "Tel. +48 601 234 567", fill=(10, 10, 10), font=font)
    pixels = np.asarray(base)
    src, dst = tmp_path / "pan.mp4", tmp_path / "out.mp4"
    n = 24
    with av.open(str(src), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 480, 192, "yuv420p"
        for i in range(n):  # a slow pan: the text moves with the camera
            frame = np.ascontiguousarray(pixels[4:196, i : i + 480])
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    engine = Engine(Settings(detect=DetectSettings(targets=("text",))))
    result = engine.mask_file(src, dst)
    assert result.frames == n
    with av.open(str(dst)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == n
    for i, rgb in enumerate(frames):  # phone line at y 106-130, bread line at y 36-60
        phone = rgb[108:126, 60 - i : 250 - i].std()
        bread = rgb[38:56, 60 - i : 250 - i].std()
        assert phone < 25 < bread, (i, phone, bread)


def test_a_new_scene_is_read_at_once_not_at_the_next_turn(card) -> None:
    rgb, _ = card
    det = TextDetector("all", every=4)
    dark = np.zeros_like(rgb)
    runs = [len(det.detect(frame, 0.5)) > 0 for frame in (dark, rgb, rgb, rgb)]
    assert runs == [False, True, False, False]  # the cut to the card is read at once


def test_text_tracks_are_held_one_reading_interval_before_and_after() -> None:
    from veil.cliargs import pad_for_text
    from veil.settings import TrackSettings

    plain = Settings()
    assert pad_for_text(plain) == plain
    padded = pad_for_text(Settings(detect=DetectSettings(targets=("face", "text"))))
    span = padded.detect.video_text_every * padded.track.detect_every - 1
    assert padded.track.pre_frames == padded.track.post_frames == span
    assert padded.track.lookahead >= padded.track.pre_frames
    off = Settings(detect=DetectSettings(targets=("text",)), track=TrackSettings(enabled=False))
    assert pad_for_text(off) == off
