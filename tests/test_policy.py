"""Compliance policies: the shipped presets, and strict validation of a user's file."""

from __future__ import annotations

import hashlib

import pytest

from veil.errors import ConfigError
from veil.policy import load_policy, parse_policy, presets
from veil.settings import Settings

GOOD = """
name = "mine"
version = "2"
purpose = "A test policy"

[detect]
targets = ["face", "text"]
thresholds = { face = 0.2 }

[mask]
method = "fill"
strength = 1.0
margins = { face = 0.5, text = 0.2 }

[text]
mode = "pii"
categories = ["phone", "email"]
phone_regions = ["DE"]

[review]
reasons = ["consent given", "public figure"]
"""


def test_presets_ship_with_a_purpose_each_and_are_valid() -> None:
    names = set(presets())
    assert {"publish-eu", "poland-roads", "dataset-release", "internal-review"} <= names
    for name in names:
        policy = load_policy(name)
        assert policy.name == name and policy.purpose and policy.reasons
        assert len(policy.sha256) == 64


def test_poland_roads_offers_the_art81_reasons_and_masks_every_plate() -> None:
    policy = load_policy("poland-roads")
    reasons = " ".join(policy.reasons)
    assert "Art. 81" in reasons and "public figure" in reasons and "crowd" in reasons
    settings = policy.apply(Settings())
    assert "plate" in settings.detect.targets and "plate" in settings.detect.text_categories
    assert settings.detect.plate_threshold < Settings().detect.plate_threshold


def test_a_policy_sets_the_run_settings_and_records_its_identity(tmp_path) -> None:
    f = tmp_path / "mine.toml"
    f.write_bytes(GOOD.encode())
    policy = load_policy(f)
    s = policy.apply(Settings())
    assert s.detect.targets == ("face", "text")
    assert s.detect.face_threshold == 0.2 == s.detect.video_face_threshold
    assert s.detect.text_categories == ("phone", "email") and s.detect.text_regions == ("DE",)
    assert (s.mask.method, s.mask.face_margin, s.mask.text_margin) == ("fill", 0.5, 0.2)
    assert policy.record() == {
        "name": "mine",
        "version": "2",
        "sha256": hashlib.sha256(GOOD.encode()).hexdigest(),
    }


@pytest.mark.parametrize(
    ("old", "new", "named"),
    [
        ('purpose = "A test policy"', 'purpose = "A test policy"\ncolour = "red"', "colour"),
        ('method = "fill"', 'method = "fill"\nshape = "rect"', "mask.shape"),
        ('method = "fill"', 'method = "smudge"', "mask.method"),
        ("strength = 1.0", "strength = 9.0", "strength"),
        ("strength = 1.0", 'strength = "strong"', "mask.strength"),
        ("face = 0.5, text", "face = 5, text", "mask.margins.face"),
        ("face = 0.5, text", "hand = 0.5, text", "mask.margins.hand"),
        ('targets = ["face", "text"]', 'targets = ["face", "dog"]', "detect.targets"),
        ('mode = "pii"', 'mode = "some"', "text.mode"),
        ('["phone", "email"]', '["phone", "shoe size"]', "text.categories"),
        ('phone_regions = ["DE"]', 'phone_regions = ["Germany"]', "Germany"),
        ('reasons = ["consent given", "public figure"]', "reasons = []", "review.reasons"),
        ('version = "2"\n', "", "version"),
        ('mode = "pii"\n', "", "text.mode"),
        ('name = "mine"', 'name = "mine', "not valid TOML"),
    ],
)
def test_a_bad_policy_is_refused_naming_the_key(old: str, new: str, named: str) -> None:
    assert old in GOOD
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        parse_policy(GOOD.replace(old, new, 1).encode(), "mine.toml")


def test_a_missing_section_and_an_unknown_preset_are_refused(tmp_path) -> None:
    cut = GOOD[: GOOD.index("[review]")]
    with pytest.raises(ConfigError, match="review: missing section"):
        parse_policy(cut.encode())
    with pytest.raises(ConfigError, match="no such preset"):
        load_policy("publish-mars")
