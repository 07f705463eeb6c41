"""veil audit with its real recognisers (dlib, rapidocr): skipped without the audit extra."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from veil.audit.backends import audit_available
from veil.cli import main

pytestmark = pytest.mark.skipif(not audit_available(), reason="pip install 'veil[audit]'")


def test_dlib_unmasked_face_matches_itself_and_a_fill_does_not(astronaut):
    from veil.audit.backends import DlibFaces

    faces = DlibFaces()
    box = (170, 30, 290, 180)  # the astronaut's face
    lm = faces.landmarks(astronaut, box)
    filled = astronaut.copy()
    filled[20:200, 150:310] = 0
    a, b, c = faces.embed([(astronaut, lm), (astronaut.copy(), lm), (filled, lm)])
    assert np.linalg.norm(a - b) < 1e-4
    # the context around a filled face (hair, helmet) keeps it only ~0.6 away, dlib's
    # same-person threshold: hence ranks against a gallery rather than a fixed threshold
    assert np.linalg.norm(a - c) > 0.4
    # the track-average attack averages aligned chips: a chip embeds as its window does
    chip = faces.chip(astronaut, lm)
    assert chip.shape == (150, 150, 3) and chip.dtype == np.uint8
    assert np.linalg.norm(faces.embed_chips([chip])[0] - a) < 1e-4


def test_rapidocr_reads_a_drawn_plate_and_not_a_filled_one():
    from veil.audit.backends import RapidPlateReader
    from veil.audit.metrics import normalise_plate

    img = Image.new("RGB", (360, 110), "white")
    draw = ImageDraw.Draw(img)
    draw.rectangle([2, 2, 357, 107], outline="black", width=4)
    draw.text((24, 18), "KX 42 MTR", fill="black", font=ImageFont.load_default(size=64))
    rgb = np.asarray(img)
    reader = RapidPlateReader()
    assert "KX42MTR" in normalise_plate(reader.read(rgb))
    assert normalise_plate(reader.read(np.zeros_like(rgb))) == ""


@pytest.mark.shared_data
@pytest.mark.slow
def test_audit_cli_on_a_few_real_faces(shared_data, tmp_path, capsys):
    src = json.loads((shared_data / "faces_wider_val" / "annotations.json").read_text())
    images = []
    for e in src["images"]:
        big = [b for b in e["boxes"] if not b.get("ignore") and b["y2"] - b["y1"] >= 80]
        if big:
            images.append({**e, "file": str(shared_data / "faces_wider_val" / e["file"])})
        if len(images) == 3:
            break
    ds = tmp_path / "faces.json"
    ds.write_text(json.dumps({"images": images}))
    out = tmp_path / "audit"
    args = ["audit", str(ds), "--out", str(out), "--annotated-boxes", "--methods", "fill",
            "--min-height", "80", "--calibrate", "2", "-q"]  # fmt: skip
    assert main(args) == 0
    result = json.loads((out / "audit.json").read_text())
    faces = result["faces"]
    rows = {(r["setup"], r["attack"]): r for r in faces["rows"]}
    assert rows[("unmasked", "none")]["rank1"] == 1.0
    assert faces["verdicts"][0]["setup"] == "fill"
    assert (out / "report.md").is_file()
    assert not list(out.rglob("*.jpg"))  # aggregate numbers only, no crops


def test_audit_cli_original_and_masked_folders(astronaut, tmp_path, monkeypatch):
    src, dst, out = tmp_path / "orig", tmp_path / "masked", tmp_path / "audit"
    src.mkdir()
    Image.fromarray(astronaut).save(src / "a.png")
    Image.fromarray(np.ascontiguousarray(astronaut[:, ::-1])).save(src / "b.png")
    assert main(["mask", str(src), "-o", str(dst), "--method", "fill", "-q"]) == 0
    monkeypatch.chdir(tmp_path)  # relative folders, as the docs' example gives them
    assert main(["audit", "--original", "orig/", "--masked", "masked/", "--out", "audit/",
                 "--targets", "face", "--calibrate", "0", "-q"]) == 0  # fmt: skip
    faces = json.loads((out / "audit.json").read_text())["faces"]
    assert faces["gallery"] == 2 and faces["covered"] == 2
    setups = {r["setup"] for r in faces["rows"]}
    assert setups == {"unmasked", "gauss-5%", "mosaic-20px", "masked files"}
    assert not list(out.rglob("*.png")) or all(p.name.endswith("_attacks.png")
                                               for p in out.rglob("*.png"))  # fmt: skip
    (dst / "b.png").unlink()
    assert main(["audit", "--original", str(src), "--masked", str(dst), "--out", str(out),
                 "--targets", "face", "-q"]) == 1  # fmt: skip
