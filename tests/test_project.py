"""The project file: detect -> review -> render round trips, edits with undo, refusals."""

from __future__ import annotations

import dataclasses
import json

import av
import numpy as np
import pytest
from PIL import Image

from media_factory import make_clip
from veil.errors import ProjectError
from veil.media import video as video_io
from veil.pipeline import Engine
from veil.project import (
    FileEntry,
    Keyframe,
    Overrides,
    Project,
    Track,
    detect_entry,
    render_file,
    sha256_file,
)
from veil.regions import FACE, PLATE, Regions
from veil.settings import MaskSettings, Settings


class BarDetector:
    """Finds the moving green bar of media_factory clips (a 'face'), every call."""

    label = FACE

    def detect(self, rgb: np.ndarray, threshold: float) -> Regions:
        green = (rgb[..., 1] > 150) & (rgb[..., 0] < 80)
        xs = np.flatnonzero(green.any(axis=0))
        if not len(xs):
            return Regions.empty()
        return Regions([[xs[0] - 3.3, 30.2, xs[-1] + 4.1, 70.6]], scores=[0.9], labels=[FACE])


class FixedPlate:
    """A still 'plate' overlapping the bar's path, so masks overlap on some frames."""

    label = PLATE

    def detect(self, rgb: np.ndarray, threshold: float) -> Regions:
        return Regions([[50.5, 55.25, 110.75, 80.5]], scores=[0.7], labels=[PLATE])


def _decoded(path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


@pytest.fixture
def frames_before_encoding(monkeypatch):
    """Every frame handed to the encoder, in order (what masking produced)."""
    seen: list[np.ndarray] = []
    original = video_io._Transcoder._to_frame

    def record(self, img, pts):
        seen.append(img.copy())
        return original(self, img, pts)

    monkeypatch.setattr(video_io._Transcoder, "_to_frame", record)
    return seen


def _engine(method: str = "texture") -> Engine:
    s = Settings(mask=MaskSettings(method=method))
    return Engine(s, detectors=[BarDetector(), FixedPlate()])


# -- round trips ----------------------------------------------------------------------
def test_video_round_trip_is_frame_identical(tmp_path, frames_before_encoding):
    clip = make_clip(tmp_path / "c.mp4", frames=30)
    engine = _engine()
    engine.mask_file(clip, tmp_path / "direct.mp4")
    direct = [f.copy() for f in frames_before_encoding]
    frames_before_encoding.clear()

    project = Project([detect_entry(engine, clip, "c.mp4")])
    project.save(tmp_path / "p.json")
    loaded = Project.load(tmp_path / "p.json")
    render_file(loaded.entry("c.mp4"), clip, tmp_path / "project.mp4", engine.settings)

    assert len(direct) == len(frames_before_encoding) == 30
    for a, b in zip(direct, frames_before_encoding, strict=True):
        np.testing.assert_array_equal(a, b)
    entry = loaded.entry("c.mp4")
    assert {t.label for t in entry.tracks.values()} == {"face", "plate"}
    assert entry.times is not None and len(entry.times) == 30


@pytest.mark.parametrize("ext", [".png", ".jpg"])
def test_image_round_trip_is_identical_as_decoded(tmp_path, ext):
    rgb = np.random.default_rng(1).integers(0, 256, (120, 160, 3), dtype=np.uint8)
    rgb[:, 60:68] = (0, 200, 0)
    src = tmp_path / f"in{ext}"
    Image.fromarray(rgb).save(src)
    engine = _engine("blur")
    engine.mask_file(src, tmp_path / f"direct{ext}")
    project = Project.loads(Project([detect_entry(engine, src, src.name)]).dumps())
    render_file(project.entry(src.name), src, tmp_path / f"project{ext}", engine.settings)
    a = np.asarray(Image.open(tmp_path / f"direct{ext}"))
    b = np.asarray(Image.open(tmp_path / f"project{ext}"))
    np.testing.assert_array_equal(a, b)
    assert (a != np.asarray(Image.open(src))).any()  # something was masked


def test_disabled_track_leaves_its_pixels_untouched(tmp_path):
    rgb = np.random.default_rng(2).integers(0, 256, (120, 160, 3), dtype=np.uint8)
    src = tmp_path / "in.png"
    Image.fromarray(rgb).save(src)
    entry = FileEntry("in.png", "image", sha256_file(src), 1, 160, 120)
    project = Project([entry])
    keep = project.add_track("in.png", "face", [(0, (10, 10, 40, 50))])
    drop = project.add_track("in.png", "logo", [(0, (100, 60, 150, 110))])
    project.disable("in.png", drop, "public figure")
    render_file(project.entry("in.png"), src, tmp_path / "out.png", Settings())
    out = np.asarray(Image.open(tmp_path / "out.png"))
    np.testing.assert_array_equal(out[60:110, 100:150], rgb[60:110, 100:150])
    assert (out[10:50, 10:40] != rgb[10:50, 10:40]).any()
    assert project.track("in.png", keep).enabled


def test_manual_region_masks_exactly_its_frames(tmp_path, frames_before_encoding):
    clip = make_clip(tmp_path / "c.mp4", frames=20)
    original = _decoded(clip)
    entry = FileEntry("c.mp4", "video", sha256_file(clip), 20, 160, 120)
    project = Project([entry])
    project.add_track(
        "c.mp4", "document", [(5, (100, 70, 140, 110)), (12, None)], Overrides(method="fill")
    )
    render_file(project.entry("c.mp4"), clip, tmp_path / "out.mp4", Settings())
    changed = [
        i
        for i, (a, b) in enumerate(zip(original, frames_before_encoding, strict=True))
        if (a != b).any()
    ]
    assert changed == list(range(5, 12))
    for i in changed:
        out = frames_before_encoding[i]
        assert (out[70:110, 100:140] == 0).all()  # filled black, rect, no margin
        np.testing.assert_array_equal(out[:70], original[i][:70])


def test_whole_frame_region_covers_the_picture_on_its_frames(tmp_path, frames_before_encoding):
    clip = make_clip(tmp_path / "c.mp4", frames=12)
    entry = FileEntry("c.mp4", "video", sha256_file(clip), 12, 160, 120)
    project = Project([entry])
    project.add_whole_frame("c.mp4", "screen", 3, 6, method="fill")
    render_file(project.entry("c.mp4"), clip, tmp_path / "out.mp4", Settings())
    black = [int((f == 0).all()) for f in frames_before_encoding]
    assert black == [0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0]


# -- interpolation --------------------------------------------------------------------
def test_interpolation_between_keyframes_is_linear_and_holds_after():
    t = Track(
        1,
        "logo",
        "manual",
        (
            Keyframe(10, (0.0, 10.0, 20.0, 30.0)),
            Keyframe(20, (100.0, 30.0, 140.0, 90.0)),
            Keyframe(25, None, outside=True),
            Keyframe(30, (5.0, 5.0, 15.0, 15.0)),
        ),
    )
    frames, boxes = t.boxes(40)
    assert frames.tolist() == list(range(10, 25)) + list(range(30, 40))
    for f, b in zip(frames.tolist(), boxes, strict=True):
        if f <= 20:
            s = (f - 10) / 10
            want = [100 * s, 10 + 20 * s, 20 + 120 * s, 30 + 60 * s]
        elif f < 25:
            want = [100, 30, 140, 90]  # holds until the outside keyframe
        else:
            want = [5, 5, 15, 15]  # the last box holds to the end
        np.testing.assert_allclose(b, want, rtol=0, atol=1e-4)
    assert t.box_at(15, 40) == pytest.approx((50.0, 20.0, 80.0, 60.0))
    assert t.box_at(9, 40) is None and t.box_at(27, 40) is None
    assert t.visible_ranges(40) == [(10, 24), (30, 39)]


# -- edits and undo -------------------------------------------------------------------
def _video_project() -> Project:
    entry = FileEntry("v.mp4", "video", "0" * 64, 50, 320, 240)
    entry.tracks[3] = Track(
        3, "face", "auto", (Keyframe(0, (1, 2, 30, 40)), Keyframe(10, None, True))
    )
    return Project([entry])


def test_edits_undo_and_redo_as_a_stack():
    p = _video_project()
    before = p.dumps()
    p.disable("v.mp4", 3, "consent")
    tid = p.add_track("v.mp4", "tattoo", [(2, (10, 10, 20, 20)), (8, (30, 10, 40, 20))])
    p.set_keyframe("v.mp4", tid, 5, (15, 10, 25, 20))
    p.move_keyframe("v.mp4", tid, 8, 9)
    p.delete_keyframe("v.mp4", tid, 5)
    p.set_overrides("v.mp4", tid, method="fill", margin=0.1)
    p.set_outside("v.mp4", tid, 20)
    after = p.dumps()
    assert len(p.history) == 7
    assert p.track("v.mp4", 3).reason == "consent"
    assert [k.frame for k in p.track("v.mp4", tid).keyframes] == [2, 9, 20]
    while p.can_undo:
        p.undo()
    assert p.dumps() == before
    while p.can_redo:
        p.redo()
    assert p.dumps() == after
    p.undo()
    p.enable("v.mp4", 3)  # a new edit clears the redo stack
    assert not p.can_redo


@pytest.mark.parametrize(
    "edit, words",
    [
        (lambda p: p.disable("v.mp4", 3, "  "), "reason"),
        (lambda p: p.set_keyframe("v.mp4", 3, 60, (1, 1, 5, 5)), "past the last frame"),
        (lambda p: p.set_keyframe("v.mp4", 3, 4, (5, 1, 1, 5)), "x2 > x1"),
        (lambda p: p.set_overrides("v.mp4", 3, method="smudge"), "method"),
        (lambda p: p.set_overrides("v.mp4", 3, margin_share=2), "margin_share"),
        (lambda p: p.add_track("v.mp4", "Jane Doe", [(0, (1, 1, 5, 5))]), "label"),
        (lambda p: p.delete_track("v.mp4", 3), "disable it"),
        (lambda p: p.delete_keyframe("v.mp4", 3, 0), "at least one box"),
        (lambda p: p.track("v.mp4", 99), "no track 99"),
    ],
)
def test_bad_edits_are_refused_and_change_nothing(edit, words):
    p = _video_project()
    before = p.dumps()
    with pytest.raises(ProjectError, match=words):
        edit(p)
    assert p.dumps() == before and not p.can_undo


# -- refusals --------------------------------------------------------------------------
def test_sha256_mismatch_is_refused_and_writes_nothing(tmp_path):
    clip = make_clip(tmp_path / "c.mp4", frames=6)
    entry = FileEntry("c.mp4", "video", "f" * 64, 6, 160, 120)
    with pytest.raises(ProjectError, match="sha256"):
        render_file(entry, clip, tmp_path / "out.mp4", Settings())
    assert not (tmp_path / "out.mp4").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["c.mp4"]


def test_frame_count_or_size_mismatch_fails_closed(tmp_path):
    clip = make_clip(tmp_path / "c.mp4", frames=6)
    for entry in (
        FileEntry("c.mp4", "video", sha256_file(clip), 7, 160, 120),
        FileEntry("c.mp4", "video", sha256_file(clip), 5, 160, 120),
        FileEntry("c.mp4", "video", sha256_file(clip), 6, 162, 120),
    ):
        with pytest.raises(ProjectError):
            render_file(entry, clip, tmp_path / "out.mp4", Settings())
        assert [p.name for p in tmp_path.iterdir()] == ["c.mp4"]


def _valid_doc() -> dict:
    p = _video_project()
    p.add_track("v.mp4", "logo", [(4, (10, 10, 20, 20)), (6, None)], Overrides(shape="ellipse"))
    p.disable("v.mp4", 3, "false positive")
    return json.loads(p.dumps())


def _set(doc: dict, path: list, value) -> dict:
    node = doc
    for key in path[:-1]:
        node = node[key]
    if value is _DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return doc


_DELETE = object()
_T = ["files", 0, "tracks", 0]


@pytest.mark.parametrize(
    "path, value, field",
    [
        (["schema_version"], 2, "schema_version: 2 is newer"),
        (["schema_version"], "1", "schema_version"),
        (["format"], "cvat", "format"),
        (["files", 0, "sha256"], "abc", "files[0].sha256"),
        (["files", 0, "frames"], 0, "files[0].frames"),
        (["files", 0, "kind"], "audio", "files[0].kind"),
        (["files", 0, "width"], _DELETE, "files[0].width: missing"),
        (["files", 0, "tracks", 0, "enabeld"], True, "files[0].tracks[0].enabeld: unknown"),
        ([*_T, "reason"], _DELETE, "files[0].tracks[0].reason"),
        ([*_T, "label"], "person", "files[0].tracks[0].label"),
        ([*_T, "source"], "ai", "files[0].tracks[0].source"),
        ([*_T, "keyframes", 0, "box"], [1, 2, 3], "files[0].tracks[0].keyframes[0].box"),
        ([*_T, "keyframes", 0, "box"], [5, 2, 1, 9], "files[0].tracks[0].keyframes[0].box"),
        ([*_T, "keyframes", 0, "box"], [1, 2, "x", 9], "files[0].tracks[0].keyframes[0].box"),
        ([*_T, "keyframes", 0, "frame"], 1.5, "files[0].tracks[0].keyframes[0].frame"),
        ([*_T, "keyframes", 1, "frame"], 0, "files[0].tracks[0].keyframes[1].frame"),
        ([*_T, "keyframes", 1, "frame"], 50, "tracks[0].keyframes[1].frame: 50 is past"),
        ([*_T, "keyframes"], [], "files[0].tracks[0].keyframes"),
        ([*_T, "enabled"], "yes", "files[0].tracks[0].enabled"),
        ([*_T, "seed"], -1, "files[0].tracks[0].seed"),
        ([*_T, "margin_share"], 1.5, "files[0].tracks[0].margin_share"),
        ([*_T, "margin_share"], "half", "files[0].tracks[0].margin_share"),
        (["files", 0, "tracks", 1, "overrides", "shape"], "star", "tracks[1].overrides.shape"),
        (["files", 0, "tracks", 1, "id"], 3, "files[0].tracks[1].id: 3 is used twice"),
        (["files", 0, "times"], [0.0, 1.0], "files[0].times"),
    ],
)
def test_malformed_projects_are_refused_naming_the_field(path, value, field):
    doc = _set(_valid_doc(), path, value)
    with pytest.raises(ProjectError) as err:
        Project.loads(json.dumps(doc), "p.json")
    assert field in str(err.value)
    assert str(err.value).startswith("p.json: ")


@pytest.mark.parametrize(
    "text, words",
    [
        ("", "not valid JSON"),
        ('{"format": "veil-project", "format": "x"}', "duplicate key 'format'"),
        ("[" * 100_000, "nested too deeply|not valid JSON"),
        (b"\xff\xfe{}", "not UTF-8"),
        (
            '{"format":"veil-project","schema_version":1,"files":[{"tracks":[]}]}',
            r"files\[0\]\.file: missing",
        ),
    ],
)
def test_unreadable_projects_are_refused(text, words):
    with pytest.raises(ProjectError, match=words):
        Project.loads(text)


def test_save_and_load_is_lossless():
    p = Project.loads(json.dumps(_valid_doc()))
    assert Project.loads(p.dumps()).dumps() == p.dumps()


def test_a_tracks_margin_share_sizes_its_mask_and_survives_the_file():
    """An unlikely face's smaller margin (the tracker's ``Regions.margin_shares``) is
    carried per track: the largest share of its frames, written only when under 1,
    scaling the class margin unless the track overrides the margin itself."""
    from veil.project.build import _Collector
    from veil.project.render import track_style

    c = _Collector()
    box = [[10, 10, 30, 30], [50, 50, 70, 70]]
    c.add(0, Regions(box, None, [FACE, FACE], [1, 2], [0.5, 0.5]))
    c.add(1, Regions(box, None, [FACE, FACE], [1, 2], [0.5, 1.0]))  # 2 became likely
    tracks = c.tracks(2)
    assert (tracks[1].margin_share, tracks[2].margin_share) == (0.5, 1.0)
    mask = MaskSettings(face_margin=0.4)
    assert track_style(tracks[1], mask).margin == pytest.approx(0.2)
    assert track_style(tracks[2], mask).margin == pytest.approx(0.4)
    own = dataclasses.replace(tracks[1], overrides=Overrides(margin=0.6))
    assert track_style(own, mask).margin == pytest.approx(0.6)

    entry = FileEntry("a.mp4", "video", "0" * 64, 2, 100, 100, tracks)
    text = Project([entry]).dumps()
    doc = json.loads(text)
    written = {t["id"]: t for t in doc["files"][0]["tracks"]}
    assert written[1]["margin_share"] == 0.5 and "margin_share" not in written[2]
    back = Project.loads(text, "p.json").files[0].tracks
    assert (back[1].margin_share, back[2].margin_share) == (0.5, 1.0)

    # a reviewer gives the unlikely face the whole margin, as one undoable edit
    p = Project.loads(text, "p.json")
    p.set_overrides("a.mp4", 1, margin_share=1.0)
    assert p.track("a.mp4", 1).margin_share == 1.0 and p.history[-1] == "set style 1"
    p.undo()
    assert p.track("a.mp4", 1).margin_share == 0.5
