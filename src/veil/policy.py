"""Compliance policies: named, versioned TOML files that say what to mask and why.

A policy sets the targets, the method and strength, the margins, the text
categories and the reasons a reviewer may give for leaving a track unmasked.
Presets ship in ``veil/policies`` (``veil policies`` lists them); a user's own
file is passed as ``--policy FILE``. The policy's name, version and the sha256
of its bytes go into the project file and the redaction report, so an auditor
can tell which rules a run followed.

Validation is strict, as for every veil config: an unknown key, a bad value or a
missing field is refused with a :class:`~veil.errors.ConfigError` naming it,
before anything is read or rendered.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .regions import CLASSES
from .settings import METHODS, TEXT_MODES, DetectSettings, MaskSettings, Settings

#: the sections and keys of a policy file: key -> required
SCHEMA: dict[str, dict[str, bool]] = {
    "": {"name": True, "version": True, "purpose": True},
    "detect": {"targets": True, "thresholds": False},
    "mask": {"method": True, "strength": True, "margins": True, "color": False},
    "text": {"mode": True, "categories": True, "phone_regions": False},
    "review": {"reasons": True},
}
MAX_REASONS = 20


@dataclass(frozen=True)
class Policy:
    """One validated policy; ``sha256`` is of the file's bytes as read."""

    name: str
    version: str
    purpose: str
    targets: tuple[str, ...]
    method: str
    strength: float
    margins: tuple[tuple[str, float], ...]
    text_mode: str
    text_categories: tuple[str, ...]
    reasons: tuple[str, ...]
    sha256: str
    thresholds: tuple[tuple[str, float], ...] = ()
    color: str | None = None
    phone_regions: tuple[str, ...] | None = None

    def record(self) -> dict[str, str]:
        """What the project file and the report hold of it."""
        return {"name": self.name, "version": self.version, "sha256": self.sha256}

    def apply(self, settings: Settings) -> Settings:
        """``settings`` with the policy's choices in place of the run's own, and its
        identity and reviewer reasons."""
        d, m = settings.detect, settings.mask
        margins = dict(self.margins)
        thresholds = dict(self.thresholds)
        detect_changes: dict[str, Any] = {
            "targets": self.targets,
            "text_mode": self.text_mode,
            "text_categories": self.text_categories,
        }
        if self.phone_regions is not None:
            detect_changes["text_regions"] = self.phone_regions
        for cls in CLASSES:
            if cls in thresholds:
                detect_changes[f"{cls}_threshold"] = thresholds[cls]
        if "face" in thresholds:  # a threshold the policy gives holds for video too
            detect_changes["video_face_threshold"] = thresholds["face"]
        mask_changes: dict[str, Any] = {"method": self.method, "strength": self.strength}
        for cls in CLASSES:
            if cls in margins:
                mask_changes[f"{cls}_margin"] = margins[cls]
        if self.color is not None:
            mask_changes["color"] = self.color
        try:
            detect = replace(d, **detect_changes)
            mask = replace(m, **mask_changes)
        except ConfigError as exc:
            raise ConfigError(f"policy {self.name}: {exc}") from None
        return settings.evolve(
            detect=detect,
            mask=mask,
            policy=tuple(self.record().items()),
            review_reasons=self.reasons,
        )


def presets() -> dict[str, Path]:
    """The shipped presets by name."""
    folder = resources.files("veil") / "policies"
    return {Path(p.name).stem: Path(str(p)) for p in folder.iterdir() if p.name.endswith(".toml")}


def load_policy(name_or_file: str | Path) -> Policy:
    """A preset by name, or a user's TOML file by path."""
    text = str(name_or_file)
    known = presets()
    if text in known:
        path = known[text]
    else:
        path = Path(text)
        if not path.is_file():
            raise ConfigError(
                f"--policy {text!r}: no such preset ({', '.join(sorted(known))}) or file"
            )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"policy {path}: cannot read it ({exc.strerror})") from None
    return parse_policy(data, str(path))


def parse_policy(data: bytes, where: str = "policy") -> Policy:
    """Validate a policy's TOML bytes; every problem names its key."""
    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{where}: not valid TOML ({exc})") from None

    def fail(key: str, why: str) -> ConfigError:
        return ConfigError(f"{where}: {key}: {why}")

    for key, value in doc.items():
        if key not in SCHEMA[""] and key not in SCHEMA:
            raise fail(key, f"unknown key; expected {', '.join([*SCHEMA[''], *list(SCHEMA)[1:]])}")
        if key in SCHEMA and key != "" and not isinstance(value, dict):
            raise fail(key, "expected a [section]")
    for section, keys in SCHEMA.items():
        table = doc if section == "" else doc.get(section)
        if table is None:
            raise fail(section, "missing section")
        for key, required in keys.items():
            if required and key not in table:
                raise fail(_dotted(section, key), "missing field")
        if section:
            for key in table:
                if key not in keys:
                    raise fail(_dotted(section, key), f"unknown key; expected {', '.join(keys)}")

    def text_field(section: str, key: str) -> str:
        v = (doc if not section else doc[section]).get(key)
        if not isinstance(v, str) or not v.strip() or len(v) > 200:
            raise fail(_dotted(section, key), f"expected a short text, got {v!r}")
        return v.strip()

    def str_list(section: str, key: str, allowed: tuple[str, ...] | None) -> tuple[str, ...]:
        v = doc[section][key]
        name = _dotted(section, key)
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise fail(name, f"expected a list of texts, got {v!r}")
        for x in v:
            if allowed is not None and x not in allowed:
                raise fail(name, f"{x!r} is not one of {', '.join(allowed)}")
        if len(set(v)) != len(v):
            raise fail(name, "a value repeats")
        return tuple(v)

    def per_class(section: str, key: str, lo: float, hi: float) -> tuple[tuple[str, float], ...]:
        v = doc[section].get(key, {})
        name = _dotted(section, key)
        if not isinstance(v, dict):
            raise fail(name, f"expected a table like {{ face = 0.4 }}, got {v!r}")
        out = []
        for cls, num in v.items():
            if cls not in CLASSES:
                raise fail(f"{name}.{cls}", f"unknown class; expected one of {', '.join(CLASSES)}")
            if isinstance(num, bool) or not isinstance(num, (int, float)) or not lo <= num <= hi:
                raise fail(f"{name}.{cls}", f"expected a number from {lo} to {hi}, got {num!r}")
            out.append((cls, float(num)))
        return tuple(out)

    name = text_field("", "name")
    version = str(doc["version"]) if isinstance(doc["version"], int) else text_field("", "version")
    targets = str_list("detect", "targets", CLASSES)
    if not targets:
        raise fail("detect.targets", "name at least one target")
    method = doc["mask"]["method"]
    if method not in METHODS:
        raise fail("mask.method", f"{method!r} is not one of {', '.join(METHODS)}")
    strength = doc["mask"]["strength"]
    if isinstance(strength, bool) or not isinstance(strength, (int, float)):
        raise fail("mask.strength", f"expected a number, got {strength!r}")
    mode = doc["text"]["mode"]
    if mode not in TEXT_MODES:
        raise fail("text.mode", f"{mode!r} is not one of {', '.join(TEXT_MODES)}")
    from .pii import CATEGORIES

    categories = str_list("text", "categories", CATEGORIES)
    regions = str_list("text", "phone_regions", None) if "phone_regions" in doc["text"] else None
    reasons = str_list("review", "reasons", None)
    if not reasons or len(reasons) > MAX_REASONS:
        raise fail("review.reasons", f"give 1 to {MAX_REASONS} reasons")
    for r in reasons:
        if not r.strip() or len(r) > 200 or any(ord(c) < 32 for c in r):
            raise fail("review.reasons", f"{r!r}: a reason is one short line")
    color = doc["mask"].get("color")
    if color is not None and not isinstance(color, str):
        raise fail("mask.color", f"expected a hex colour like '#000000', got {color!r}")
    policy = Policy(
        name=name,
        version=version,
        purpose=text_field("", "purpose"),
        targets=targets,
        method=method,
        strength=float(strength),
        margins=per_class("mask", "margins", 0.0, 3.0),
        text_mode=mode,
        text_categories=categories,
        reasons=reasons,
        sha256=hashlib.sha256(data).hexdigest(),
        thresholds=per_class("detect", "thresholds", 0.0, 1.0),
        color=color,
        phone_regions=regions,
    )
    try:  # the settings' own checks (strength range, colour, phone regions) name the value
        _check_settings(policy)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    return policy


def _check_settings(policy: Policy) -> None:
    settings = Settings(detect=DetectSettings(), mask=MaskSettings())
    policy.apply(settings)


def _dotted(section: str, key: str) -> str:
    return f"{section}.{key}" if section and key else section or key


__all__ = ["Policy", "load_policy", "parse_policy", "presets"]
