"""veil policies, --policy and the text options on the command line."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from veil.cli import main
from veil.policy import load_policy, parse_policy, presets
from veil.project.document import Project
from veil.project.model import FileEntry, Keyframe, Track
from veil.settings import Settings


def test_policies_lists_the_presets_with_their_purpose(capsys) -> None:
    assert main(["policies"]) == 0
    out = capsys.readouterr().out
    for name in ("publish-eu", "poland-roads", "dataset-release", "internal-review"):
        assert name in out
    assert load_policy("publish-eu").purpose in out


def test_policies_show_prints_a_preset_that_parses_to_the_same_policy(capsys) -> None:
    assert main(["policies", "show", "poland-roads"]) == 0
    shown = capsys.readouterr().out
    assert parse_policy(shown.encode()).sha256 == load_policy("poland-roads").sha256
    assert main(["policies", "show", "nope"]) == 2


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "in.png"
    Image.fromarray(np.full((64, 64, 3), 128, np.uint8)).save(path)
    return path


def test_a_bad_policy_file_renders_nothing(tmp_path, photo, capsys) -> None:
    preset = presets()["publish-eu"].read_text(encoding="utf-8")
    source = tmp_path / "p.toml"
    out = tmp_path / "out" / "in.png"
    for line, named in (('method = "blur"', "mask.method"), ("strength = 1.0", "mask.strength")):
        assert line in preset
        source.write_text(preset.replace(line, line.split("=")[0] + '= "x"'), encoding="utf-8")
        assert main(["mask", str(photo), "-o", str(out), "-q", "--policy", str(source)]) == 2
        assert named in capsys.readouterr().err
        assert not out.parent.exists()
    assert main(["mask", str(photo), "-o", str(out), "--policy", "no-such-preset"]) == 2
    assert "no such preset" in capsys.readouterr().err


@pytest.mark.parametrize("option", [["--method", "fill"], ["--targets", "face"], ["--text", "all"]])
def test_an_option_the_policy_sets_is_refused_beside_it(tmp_path, photo, option, capsys) -> None:
    out = tmp_path / "o.png"
    assert main(["mask", str(photo), "-o", str(out), "--policy", "publish-eu", *option]) == 2
    assert option[0] in capsys.readouterr().err
    assert not out.exists()


def test_mask_project_made_under_a_policy_needs_policy_again(tmp_path, photo, capsys) -> None:
    entry = FileEntry(
        "in.png",
        "image",
        "0" * 64,
        1,
        64,
        64,
        tracks={1: Track(1, "face", "auto", (Keyframe(0, (1, 1, 9, 9)),))},
    )
    entry.settings["policy"] = load_policy("dataset-release").record()
    project = tmp_path / "p.json"
    Project([entry]).save(project)
    out = tmp_path / "out"
    assert main(["mask", str(photo), "-o", str(out), "--project", str(project)]) == 2
    err = capsys.readouterr().err
    assert "dataset-release" in err and "--policy" in err
    assert not out.exists()


def test_a_missing_terms_file_is_refused(tmp_path, photo, capsys) -> None:
    args = ["mask", str(photo), "-o", str(tmp_path / "o.png"), "--targets", "face,text"]
    assert main([*args, "--text-terms", str(tmp_path / "none.txt")]) == 2
    assert "none.txt" in capsys.readouterr().err


def test_text_target_report_holds_categories_never_text(tmp_path, capsys) -> None:
    pytest.importorskip("rapidocr")
    from PIL import ImageDraw

    from conftest import need_font

    font = need_font("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 22)
    img = Image.new("RGB", (480, 160), (230, 230, 225))
    draw = ImageDraw.Draw(img)
    draw.text((20, 30), "Fresh bread every day", fill=(10, 10, 10), font=font)
    draw.text((20, 90), "Tel. +48 601 234 567", fill=(10, 10, 10), font=font)
    src = tmp_path / "card.png"
    img.save(src)
    report = tmp_path / "r.json"
    args = ["mask", str(src), "-o", str(tmp_path / "o" / "card.png"), "-q"]
    assert main([*args, "--targets", "text", "--report", str(report)]) == 0
    data = report.read_text()
    assert json.loads(data)["files"][0]["text_categories"] == {"phone": 1}
    assert "601" not in data and "bread" not in data.lower()


def test_the_web_app_offers_the_policy_reasons(tmp_path) -> None:
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from veil.web.app import TOKEN_HEADER, create_app
    from veil.web.jobs import JobManager

    root = tmp_path / "media"
    root.mkdir()
    settings = load_policy("poland-roads").apply(Settings())
    manager = JobManager(root, settings, workdir=tmp_path)
    token = "test-token-0123456789"
    with TestClient(create_app(manager, token)) as client:
        files = client.get("/api/files", headers={TOKEN_HEADER: token}).json()
    assert files["reasons"] == list(load_policy("poland-roads").reasons)
    assert any("Art. 81" in r for r in files["reasons"])


def test_veil_eval_scores_text_annotations(tmp_path, capsys) -> None:
    pytest.importorskip("rapidocr")
    from PIL import ImageDraw

    from conftest import need_font

    font = need_font("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 22)
    img = Image.new("RGB", (480, 160), (230, 230, 225))
    draw = ImageDraw.Draw(img)
    draw.text((20, 30), "Fresh bread every day", fill=(10, 10, 10), font=font)
    box = draw.textbbox((20, 90), "Tel. +48 601 234 567", font=font)
    draw.text((20, 90), "Tel. +48 601 234 567", fill=(10, 10, 10), font=font)
    img.save(tmp_path / "card.png")
    x1, y1, x2, y2 = box
    dataset = {
        "images": [
            {
                "file": "card.png",
                "width": 480,
                "height": 160,
                "boxes": [{"label": "text", "x1": x1, "y1": y1, "x2": x2, "y2": y2}],
            }
        ]
    }
    (tmp_path / "set.json").write_text(json.dumps(dataset))
    args = ["eval", str(tmp_path / "set.json"), "--targets", "text", "-q"]
    assert main([*args, "--out", str(tmp_path / "out")]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("text"))
    recall, masked = row.split()[2], row.split()[7]
    assert float(recall) == 1.0 and float(masked) == 1.0
