"""Take the README's screenshot of the review screen, on a synthetic clip only.

No real person appears: the "faces" are drawn ellipses and the "plate" a drawn
rectangle, found by stand-in detectors, so the picture can be published.

    python tools/web_screenshot.py docs/web-review.png
"""

from __future__ import annotations

import io
import sys
import tempfile
import threading
import time
from pathlib import Path

import av
import numpy as np
import uvicorn
from PIL import Image, ImageDraw
from playwright.sync_api import sync_playwright
from scipy import ndimage

from veil.pipeline import Engine
from veil.regions import FACE, PLATE, Regions
from veil.web.app import create_app
from veil.web.jobs import JobManager

W, H, N = 960, 540, 60
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


def faces_at(i: int) -> list[tuple[int, int, int, int]]:
    """Where the two drawn faces are on frame ``i``."""
    return [(120 + 2 * i, 120, 220 + 2 * i, 250), (560, 90 + i, 640, 190 + i)]


def plate_at(i: int) -> tuple[int, int, int, int]:
    return (700 - 3 * i, 400, 820 - 3 * i, 440)


def frame(i: int) -> np.ndarray:
    im = Image.new("RGB", (W, H), (70, 90, 110))
    d = ImageDraw.Draw(im)
    d.rectangle((0, 330, W, H), fill=(60, 60, 64))
    d.rectangle((380, 140, 520, 330), fill=(150, 110, 80))  # a door
    d.rectangle((60, 30, 300, 90), fill=(200, 60, 60))  # a sign: the region to draw
    d.text((80, 50), "SHOP LOGO", fill=(255, 255, 255))
    for x1, y1, x2, y2 in faces_at(i):
        d.rectangle((x1 + 10, y2 - 5, x2 - 10, y2 + 90), fill=(60, 70, 140))
        d.ellipse((x1, y1, x2, y2), fill=(224, 180, 150))
        ew = (x2 - x1) // 5
        d.ellipse((x1 + ew, y1 + 40, x1 + 2 * ew, y1 + 55), fill=(40, 40, 40))
        d.ellipse((x2 - 2 * ew, y1 + 40, x2 - ew, y1 + 55), fill=(40, 40, 40))
    px1, py1, px2, py2 = plate_at(i)
    d.rectangle((px1 - 60, py1 - 70, px2 + 60, py2 + 30), fill=(30, 110, 60))  # a car
    d.rectangle(plate_at(i), fill=(240, 240, 240))
    d.text((px1 + 12, py1 + 12), "AB 123 C", fill=(0, 0, 0))
    return np.asarray(im)


class Stand:
    """A stand-in detector: finds the clip's skin-coloured ellipses or its white plate."""

    def __init__(self, label: int) -> None:
        self.label = label

    def detect(self, rgb: np.ndarray, threshold: float) -> Regions:
        px = rgb.astype(int)
        if self.label == FACE:
            hit = (np.abs(px - (224, 180, 150)).sum(-1) < 60) & (px[..., 0] > px[..., 2] + 40)
        else:
            hit = (px.min(-1) > 215) & (np.ptp(px, axis=-1) < 20)
        labels, n = ndimage.label(hit)
        boxes = []
        for sl in ndimage.find_objects(labels):
            if sl is not None and (sl[0].stop - sl[0].start) > 20:
                boxes.append([sl[1].start, sl[0].start, sl[1].stop, sl[0].stop])
        if not boxes:
            return Regions.empty()
        return Regions(boxes, scores=[0.9] * len(boxes), labels=[self.label] * len(boxes))


def main() -> None:
    dst = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/web-review.png")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "media"
        root.mkdir()
        with av.open(str(root / "street.mp4"), "w") as out:
            s = out.add_stream("libx264", rate=25)
            s.width, s.height, s.pix_fmt = W, H, "yuv420p"
            for i in range(N):
                out.mux(s.encode(av.VideoFrame.from_ndarray(frame(i), format="rgb24")))
            out.mux(s.encode(None))
        manager = JobManager(
            root,
            engine_factory=lambda st: Engine(st, detectors=[Stand(FACE), Stand(PLATE)]),
            workdir=Path(tmp),
        )
        config = uvicorn.Config(
            create_app(manager, "t"), host="127.0.0.1", port=8799, log_level="warning"
        )
        srv = uvicorn.Server(config)
        threading.Thread(target=srv.run, daemon=True).start()
        while not srv.started:
            time.sleep(0.05)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=FLAGS)
            page = browser.new_page(viewport={"width": 1360, "height": 860}, bypass_csp=True)
            page.set_default_timeout(60_000)
            page.goto("http://127.0.0.1:8799/#token=t")
            page.click('button[data-path="street.mp4"]')
            page.click("#detect")
            page.wait_for_selector("#tracks li")
            page.locator("#toggle-2").click()
            page.fill("#reason-input", "consent (release form 12)")
            page.click("#reason-ok")
            page.wait_for_selector('#tracks li.off[data-track="2"]')
            page.click("#tool-rect")
            box = page.locator("#view").bounding_box()
            sx, sy = box["width"] / W, box["height"] / H
            page.mouse.move(box["x"] + 55 * sx, box["y"] + 25 * sy)
            page.mouse.down()
            page.mouse.move(box["x"] + 305 * sx, box["y"] + 95 * sy)
            page.mouse.up()
            page.select_option("#region-label", "logo")
            page.click("#region-ok")
            page.wait_for_function(
                "[...document.querySelectorAll('#tracks li')].some("
                "li => li.textContent.includes('logo') && li.textContent.includes('frames 0–59'))"
            )
            job = next(iter(manager.jobs.values()))
            while job.task is not None or len(job.project.track("street.mp4", 4).keyframes) < 3:
                time.sleep(0.1)  # the follow runs on the server
            page.wait_for_selector('#job[data-busy="0"]')
            page.focus("#view")
            for _ in range(3):
                page.keyboard.press("Shift+F")
            page.wait_for_timeout(800)
            png = page.screenshot()
            browser.close()
        srv.should_exit = True
        time.sleep(0.5)
    im = Image.open(io.BytesIO(png)).convert("RGB")
    im = im.resize((im.width * 3 // 4, im.height * 3 // 4), Image.Resampling.LANCZOS)
    im.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(dst, optimize=True)
    print(f"{dst}: {dst.stat().st_size // 1024} KB")


if __name__ == "__main__":
    main()
