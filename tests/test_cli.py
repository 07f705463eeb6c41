"""End-to-end CLI runs on small generated media and a real portrait."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from conftest import tree_hashes
from veil.cli import main


def _write(path, rgb, **kw):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(path, **kw)
    return path


@pytest.fixture
def photo_dir(tmp_path, astronaut):
    d = tmp_path / "in"
    _write(d / "portrait.jpg", astronaut, quality=95)
    _write(d / "sub" / "flat.png", np.full((64, 96, 3), 128, np.uint8))
    return d


def test_help_lists_commands(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for word in ("mask", "detect", "eval"):
        assert word in out


def test_mask_help_is_clear(capsys):
    with pytest.raises(SystemExit):
        main(["mask", "--help"])
    out = capsys.readouterr().out
    for opt in (
        "--targets",
        "--method",
        "--color",
        "--shape",
        "--margin",
        "--threshold",
        "--json",
        "--quiet",
        "--crf",
        "--codec",
        "--detect-every",
    ):
        assert opt in out


def test_mask_single_image_hides_the_face(tmp_path, astronaut, capsys):
    src = _write(tmp_path / "a.jpg", astronaut, quality=95)
    dst = tmp_path / "out" / "a.jpg"
    before = tree_hashes(src)
    assert main(["mask", str(src), "-o", str(dst), "--method", "fill", "-q"]) == 0
    assert tree_hashes(src) == before
    out = np.asarray(Image.open(dst))
    # the astronaut's face (around x 170-250, y 60-160) is filled black
    face = out[80:140, 180:240].astype(int)
    assert face.mean() < 20
    # most of the picture is untouched
    assert np.abs(out.astype(int) - astronaut.astype(int)).mean() < 20
    assert list(dst.parent.iterdir()) == [dst]


def test_folder_is_mirrored_with_json(tmp_path, photo_dir, capsys):
    out = tmp_path / "out"
    js = tmp_path / "regions.json"
    before = tree_hashes(photo_dir)
    code = main(["mask", str(photo_dir), "-o", str(out), "--json", str(js), "-q", "-vv"])
    assert code == 0
    assert tree_hashes(photo_dir) == before
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "portrait.jpg",
        "sub/flat.png",
    ]
    data = json.loads(js.read_text())
    files = {e["file"]: e for e in data["images"]}
    assert set(files) == {"portrait.jpg", "sub/flat.png"}
    faces = [b for b in files["portrait.jpg"]["boxes"] if b["label"] == "face"]
    assert len(faces) >= 1 and all(0 <= b["score"] <= 1 for b in faces)
    assert files["sub/flat.png"]["boxes"] == []
    # no coordinates or scores in the terminal output, even at -vv
    captured = capsys.readouterr()
    text = captured.out + captured.err
    for b in faces:
        for key in ("x1", "y1", "x2", "y2", "score"):
            assert str(b[key]) not in text


def test_detect_writes_json_only(tmp_path, photo_dir):
    js = tmp_path / "d.json"
    assert main(["detect", str(photo_dir), "--json", str(js), "-q", "--targets", "face"]) == 0
    data = json.loads(js.read_text())
    labels = {b["label"] for e in data["images"] for b in e["boxes"]}
    assert labels == {"face"}


def test_bad_file_fails_alone_with_one_line(tmp_path, photo_dir, capsys):
    (photo_dir / "broken.jpg").write_text("not an image")
    out = tmp_path / "out"
    assert main(["mask", str(photo_dir), "-o", str(out), "-q"]) == 1
    err = capsys.readouterr().err
    error_lines = [ln for ln in err.splitlines() if ln.startswith("veil: error:")]
    assert len(error_lines) == 1 and "broken.jpg" in error_lines[0]
    assert "Traceback" not in err
    assert (out / "portrait.jpg").exists() and not (out / "broken.jpg").exists()
    assert "masked 2 of 3" in err
    assert not [p for p in out.rglob(".*")]


def test_output_equal_to_input_is_refused(tmp_path, astronaut, capsys):
    src = _write(tmp_path / "a.jpg", astronaut)
    before = tree_hashes(src)
    assert main(["mask", str(src), "-o", str(src), "-q"]) == 2
    assert tree_hashes(src) == before
    assert "a.jpg" in capsys.readouterr().err


def test_output_inside_input_tree_is_refused(tmp_path, photo_dir, capsys):
    assert main(["mask", str(photo_dir), "-o", str(photo_dir / "masked"), "-q"]) == 2
    assert "inside the input folder" in capsys.readouterr().err
    assert not (photo_dir / "masked").exists()


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--threshold", "face=2"], "--threshold face"),
        (["--method", "smear"], "smear"),
        (["--color", "red"], "'red'"),
        (["--targets", "cat"], "'cat'"),
        (["--margin", "face=-1"], "-1"),
    ],
)
def test_bad_options_name_the_value(tmp_path, astronaut, capsys, args, needle):
    src = _write(tmp_path / "a.jpg", astronaut)
    try:
        code = main(["mask", str(src), "-o", str(tmp_path / "o.jpg"), *args])
    except SystemExit as e:  # argparse choices
        code = e.code
    assert code == 2
    assert needle in capsys.readouterr().err
    assert not (tmp_path / "o.jpg").exists()


def test_missing_input_is_a_clear_error(tmp_path, capsys):
    assert main(["mask", str(tmp_path / "nope.jpg"), "-o", str(tmp_path / "o.jpg")]) == 2
    assert "nope.jpg" in capsys.readouterr().err


def test_output_folder_for_single_file(tmp_path, astronaut):
    src = _write(tmp_path / "a.png", astronaut)
    out = tmp_path / "outdir"
    out.mkdir()
    assert main(["mask", str(src), "-o", str(out), "-q"]) == 0
    assert (out / "a.png").exists()


def test_threshold_option_applies_to_video_faces_too():
    """Video faces default lower (tracking needs one sure sighting); a user's value wins."""
    from veil.cli import build_parser, settings_from_args

    def detect(*extra):
        args = build_parser().parse_args(["mask", "in.mp4", "-o", "out.mp4", *extra])
        return settings_from_args(args).detect

    d = detect()
    assert d.video_face_threshold < d.face_threshold
    assert d.for_video().face_threshold == d.video_face_threshold
    d = detect("--threshold", "face=0.3,plate=0.25")
    assert (d.face_threshold, d.video_face_threshold, d.plate_threshold) == (0.3, 0.3, 0.25)
    d = detect("--threshold", "plate=0.4")
    assert d.video_face_threshold == detect().video_face_threshold


def test_unlikely_growth_option_reaches_the_tracker_and_names_a_bad_value(capsys):
    from veil.cli import build_parser, main, settings_from_args

    def track(*extra):
        args = build_parser().parse_args(["mask", "in.mp4", "-o", "out.mp4", *extra])
        return settings_from_args(args).track

    assert track().unlikely_growth == 0.0
    assert track("--unlikely-growth", "1").unlikely_growth == 1.0
    assert main(["mask", "in.mp4", "-o", "out.mp4", "--unlikely-growth", "2"]) != 0
    assert "--unlikely-growth" in capsys.readouterr().err  # the option, not the field
    assert track().unlikely_margin == 0.5
    assert track("--unlikely-margin", "1").unlikely_margin == 1.0
    assert main(["mask", "in.mp4", "-o", "out.mp4", "--unlikely-margin", "-1"]) != 0
    assert "--unlikely-margin" in capsys.readouterr().err


def test_what_would_fail_late_is_refused_before_any_file_is_processed(tmp_path, capsys):
    """Exit 2, one line naming the option or path, and nothing written: not a failure per
    file, nor one after hours of work (README: exit statuses)."""
    from media_factory import make_clip

    photo = _write(tmp_path / "in" / "p.jpg", np.full((48, 64, 3), 90, np.uint8))
    clip = make_clip(tmp_path / "in" / "c.mp4", frames=4)
    out = tmp_path / "out"
    cases = [
        ([str(photo), "-o", str(out / "p.mp4")], "output must be an image file like the input"),
        ([str(photo), str(clip), "-o", str(out / "p.jpg")], "this names a file"),
        ([str(clip), "-o", str(out / "c.mkv")], "in its input's format (.mp4)"),
        ([str(tmp_path / "in"), "-o", str(out), "--json", str(tmp_path / "no" / "r.json")],
         "--json"),
        ([str(clip), "-o", str(out / "c.mp4"), "--codec", "nonsense"], "--codec 'nonsense'"),
        ([str(clip), "-o", str(out / "c.mp4"), "--preset", "fastest"], "--preset must be one of"),
        ([str(clip), "-o", str(out / "c.mp4"), "--crf", "60"], "--crf must be 0-51 for libx264"),
        ([str(clip), "-o", str(out / "c.mp4"), "--detect-every", "0"], "--detect-every must be"),
        ([str(photo), "-o", str(out / "p.jpg"), "--max-file-size", "0"], "--max-file-size must"),
        ([str(photo), "-o", str(out / "p.jpg"), "--workers", "0"], "--workers must be from 1"),
        ([str(photo), "-o", str(out / "p.jpg"), "--workers", "100000"], "--workers must be"),
        ([str(photo), "-o", str(out / "p.jpg"), "--scheduler", "foo"], "--scheduler foo"),
        ([str(photo), "-o", str(out / "p.jpg"), "--face-model", str(photo)], "cannot load"),
        ([str(photo), "-o", str(out / "p.jpg"), "--face-model", str(tmp_path / "x.onnx")],
         "model file not found"),
    ]  # fmt: skip
    for argv, says in cases:
        assert main(["mask", "-q", *argv]) == 2, argv
        err = capsys.readouterr().err
        assert says in err and err.count("\n") == 1, (argv, err)
        assert not out.exists(), argv  # nothing processed, no folder made
    # a --json in a folder -o makes is fine (README example 2 on a fresh machine)
    assert main(["mask", "-q", str(photo), "-o", str(out / "m" / "p.jpg"), "--json",
                 str(out / "r.json")]) == 0  # fmt: skip
    assert (out / "r.json").is_file() and (out / "m" / "p.jpg").is_file()
