"""Audit outputs: ``audit.json``, ``report.md`` and plots, in ``veil eval``'s style.

Only aggregate numbers are written: no crop, no coordinate, no reading of a
plate (a plate's text is personal data).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import OutputError
from ..evaluate.report import _md_table, _out_dir, clean_metrics
from ..outputs import write_text_atomic
from .runner import FACE_BUCKETS

log = logging.getLogger(__name__)

__all__ = ["face_table", "summary", "write_audit"]


def _pct(v: Any) -> str:
    """A share as a percentage; "-" where there is none (None, or NaN: nothing to count)."""
    return "-" if v is None or v != v else f"{100 * float(v):.2f}%"


def _p(v: Any) -> str:
    return "n/a" if v is None or v != v else f"{100 * v:.0f}%" if v >= 0.01 else f"{v:.1e}"


def face_table(faces: Mapping[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Rows of method x strength x attack for the face re-identification table."""
    head = ["setup", "attack", "variant (cross-fitted)", "n", "rank-1", "rank-5",
            "rank-1 95% upper", "x chance", "mean rank (0.5 = chance)", "end to end rank-1",
            "rank-1 hub-corrected (hits)", "nearest is from its photo (chance)",
            "rank-1 among its photo's faces (chance)"]  # fmt: skip
    head += [f"rank-1 {b} px" for b, _, _ in FACE_BUCKETS]
    k = faces.get("galleries", 1)
    if k > 1:
        head += [f"rank-1 in {k} galleries (x chance)"]
    chance = faces["chance"]
    rows = []
    for r in faces["rows"]:
        by = r.get("by_height") or {}
        split = (
            [f"{_pct(r['split_rank1'])} ({r['split_rank1'] / r['split_chance']:.1f})"]
            if "split_rank1" in r else ["-"] if k > 1 else []
        )  # fmt: skip
        rows.append([
            r["setup"] + (" (control)" if r["control"] else ""), r["attack"], r["variant"],
            str(r["n"]), _pct(r["rank1"]), _pct(r["rank5"]), _pct(r["rank1_upper95"]),
            "-" if r["rank1"] is None else f"{r['rank1'] / chance:.1f}",
            "-" if r.get("mean_rank") is None else f"{r['mean_rank']:.3f}",
            _pct(r["end_to_end_rank1"]),
            f"{_pct(r['hub_rank1'])} ({r['hub_rank1_hits']})" if "hub_rank1" in r else "-",
            f"{_pct(r['photo_rank1'])} ({_pct(r['photo_chance'])})" if "photo_rank1" in r
            else "-",
            f"{_pct(r['within_photo_rank1'])} ({_pct(r['within_photo_chance'])}, "
            f"n={r['within_photo_n']})" if r.get("within_photo_n") else "-",
            *[f"{_pct(by[b]['rank1'])} ({by[b]['n']})" if b in by else "-"
              for b, _, _ in FACE_BUCKETS], *split,
        ])  # fmt: skip
    return head, rows


def _plate_table(plates: Mapping[str, Any]) -> tuple[list[str], list[list[str]]]:
    head = ["setup", "attack", "variant (cross-fitted)", "n", "whole plates read",
            "character accuracy"]  # fmt: skip
    rows = [
        [r["setup"] + (" (control)" if r["control"] else ""), r["attack"], r["variant"],
         str(r["n"]), f"{r['exact_count']} ({_pct(r['exact'])})", _pct(r["char_accuracy"])]
        for r in plates["rows"]
    ]  # fmt: skip
    return head, rows


def _choice_note(table: Mapping[str, Any], what: str) -> str:
    """How the attacker's variants were chosen for the rows."""
    return (
        f"Attack variants are cross-fitted: the covered {what} alternate between two halves, "
        f"every variant ran on {table['calibration']} of them, and each half is attacked "
        "with the variant per family that did best on the other half; rows report all "
        f"{table['covered']} covered {what}, none under a variant its own result chose."
    )


def _markdown(result: Mapping[str, Any], images: list[str], note: str | None) -> str:
    lines = ["# veil audit: can the masks be undone?", ""]
    faces = result.get("faces")
    if faces:
        lines += [
            "## Faces: re-identification", "",
            f"Gallery: {faces['gallery']} original faces at least {faces['min_height']:g} px "
            f"tall; chance rank-1 {_pct(faces['chance'])}. Covered by the mask: "
            f"{faces['covered']}; missed by the detector: {faces['missed']} "
            f"(miss rate {_pct(faces['miss_rate'])}, counted as re-identified end to end). "
            + _choice_note(faces, "faces")
            + (" Surroundings blanked (`--blank-context`): outside the mask's footprint, "
               "original and probe are grey, so only the masked face region is compared."
               if faces.get("blank_context") else ""), "",
        ]  # fmt: skip
        head, rows = face_table(faces)
        lines += _md_table(head, rows) + [""]
        lines += ["Verdict per setup: both lines (rank-1 at most 2x chance on covered faces, "
                  "and end to end at most 2x chance plus the miss rate), decided on the short "
                  "candidate lists when there are any (`--galleries`), where chance gives "
                  "several hits, else on the one gallery.", "",
                  "| setup | verdict | decided on | smallest faces in their own lists |",
                  "|---|---|---|---|"]  # fmt: skip
        for v in faces["verdicts"]:
            verdict = "pass" if v["pass"] else "FAIL"
            lines.append(f"| {v['setup']} | {verdict} | {v['line_on']} | "
                         f"{_small_faces(v) or '-'} |")  # fmt: skip
        lines += ["", "One gallery of every face:", "",
                  "| setup | strongest attack | rank-1 (hits) | <= 2x chance | as many hits by "
                  "chance alone | end to end | <= 2x chance + miss rate |",
                  "|---|---|---|---|---|---|---|"]  # fmt: skip
        for v in faces["verdicts"]:
            lines.append(
                f"| {v['setup']} | {v['strongest_attack']} | {_pct(v['rank1'])} "
                f"({v.get('rank1_hits', '?')} of {v.get('n', '?')}) | "
                f"{'pass' if v['covered_pass'] else 'FAIL'} | {_p(v.get('rank1_p_chance'))} | "
                f"{_pct(v['end_to_end_rank1'])} | {'pass' if v['end_to_end_pass'] else 'FAIL'} |"
            )
        lines += [
            "", "\"As many hits by chance alone\": how often a mask that carries nothing (each "
            "probe ranked at random) scores at least as many rank-1 hits. With about one hit "
            "expected, 2 or 3 hits cross the 2x line and say little; a small value is a leak.",
            "",
        ]  # fmt: skip
        split = [v for v in faces["verdicts"] if "split_upper95" in v]
        if split:
            lines += [
                f"In {faces['galleries']} interleaved galleries (short candidate lists), "
                f"about {faces['galleries']} hits are expected by chance, so the count has "
                "power: the verdict above is decided here, and where the 95% upper bound on "
                "rank-1 is at most 2x chance, the line is certified, which one gallery "
                "cannot do.", "",
                "| setup | strongest attack | rank-1 | chance | 95% upper bound (x chance) | "
                "<= 2x chance | certified |", "|---|---|---|---|---|---|---|",
            ]  # fmt: skip
            for v in split:
                lines.append(
                    f"| {v['setup']} | {v['split_strongest_attack']} | {_pct(v['split_rank1'])} "
                    f"| {_pct(v['split_chance'])} | {_pct(v['split_upper95'])} "
                    f"({v['split_upper95'] / v['split_chance']:.1f}) | "
                    f"{'pass' if v['split_pass'] else 'FAIL'} | "
                    f"{'yes' if v['split_certified'] else 'no'} |"
                )
            lines += [""]
        within = [v for v in faces["verdicts"] if "within_photo_upper95" in v]
        if within:
            lines += [
                "Among the faces of the probe's own photo (which of the people in the "
                "picture is under the mask; the photo's light and colour, which a mask "
                "leaves, point to all of them alike), with one gallery per photo of two or "
                "more faces:", "",
                "| setup | strongest attack | rank-1 | chance | n | 95% upper bound (x chance) "
                "| certified |", "|---|---|---|---|---|---|---|",
            ]  # fmt: skip
            for v in within:
                lines.append(
                    f"| {v['setup']} | {v['within_photo_strongest_attack']} | "
                    f"{_pct(v['within_photo_rank1'])} | {_pct(v['within_photo_chance'])} | "
                    f"{v['within_photo_n']} | {_pct(v['within_photo_upper95'])} "
                    f"({v['within_photo_upper95'] / v['within_photo_chance']:.1f}) | "
                    f"{'yes' if v['within_photo_certified'] else 'no'} |"
                )
            lines += [""]
    tracks = result.get("face_tracks")
    if tracks and tracks.get("tracks"):
        lines += [
            "## Video faces: averaging a track", "",
            f"{tracks['tracks']} face tracks (median {tracks['frames_per_track_median']:g} "
            f"annotated frames each); chance: 1 hit in {tracks['tracks']}. The attacker "
            "averages the aligned, attacked probes of a track over its frames; the single "
            "probe is its middle frame. `noise-per-frame` (a mask redrawn on every frame) "
            "shows that averaging works. Rank-1 hits; each half of the tracks is scored "
            "with the variant that did best on the other half (the best in hindsight, an "
            "upper bound that favours luck, is in the last column)"
            + (", surroundings blanked (`--blank-context`)" if tracks.get("blank_context")
               else "") + ".", "",
            "| setup | attack | variants | one frame | track average | one frame, "
            "hub-corrected | average, hub-corrected | by chance alone (one frame) | "
            "best in hindsight: one frame / average | one frame: nearest is from its clip | "
            "rank-1 among its clip's faces: one frame / average |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]  # fmt: skip
        for r in tracks["rows"]:
            lines.append(
                f"| {r['setup']} | {r['attack']} | {r['variants']} | {r['hits_single']} | "
                f"{r['hits_average']} | {r['hits_single_hub']} | {r['hits_average_hub']} | "
                f"{_p(r['p_chance_single'])} | {r['hindsight_single']} "
                f"({r['variant_single']}) / {r['hindsight_average']} ({r['variant_average']}) | "
                f"{r.get('hits_single_clip', '-')} | {r.get('hits_single_within_clip', '-')} / "
                f"{r.get('hits_average_within_clip', '-')} |"
            )
        if "clip_chance" in tracks:
            lines += [
                "", "The gallery holds each probe's own clip, whose other faces share its "
                "light and colour cast: \"nearest is from its clip\" counts probes whose "
                "nearest original is from their own clip (chance "
                f"{tracks['clip_chance'] * tracks['tracks']:.1f} of {tracks['tracks']}), and "
                "\"rank-1 among its clip's faces\" the probes ranked first among their own "
                f"clip's faces only ({tracks['within_clip_n']} probes in clips of two or more; "
                f"chance {tracks['within_clip_chance'] * tracks['within_clip_n']:.1f} hits): "
                "the person found once the clip is known. A gallery of other photos of the "
                "person shares none of the clip's look.",
            ]  # fmt: skip
        lines += [""]
        for name, v in (tracks.get("verdicts") or {}).items():
            lines.append(f"- **{name}**: {_track_verdict(v, tracks)}")
        lines += [""]
    ptracks = result.get("plate_tracks")
    if ptracks and ptracks.get("tracks"):
        ceiling = (
            f"; OCR ceiling on the originals' middle frames: {_pct(ptracks['ceiling_exact'])} "
            f"of the {ptracks['annotated_text']} with annotated text read whole"
            if ptracks.get("annotated_text") else ""
        )  # fmt: skip
        lines += [
            "## Video plates: averaging a track", "",
            f"{ptracks['tracks']} plate tracks (median {ptracks['frames_per_track_median']:g} "
            f"annotated frames each){ceiling}. The attacker resamples each frame's attacked "
            "plate onto one canvas and averages the track; the single read is its middle "
            "frame. `noise-per-frame` shows that averaging works.", "",
            "| setup | attack | variant (cross-fitted) | n | read whole, one frame | read whole, "
            "track average | characters, one frame | characters, average |",
            "|---|---|---|---|---|---|---|---|",
        ]  # fmt: skip
        for r in ptracks["rows"]:
            lines.append(
                f"| {r['setup']} | {r['attack']} | {r['variant']} | {r['n']} | "
                f"{r['exact_single']} | {r['exact_average']} | {_pct(r['char_single'])} | "
                f"{_pct(r['char_average'])} |"
            )
        lines += [""]
    plates = result.get("plates")
    if plates:
        lines += [
            "## Plates: reading", "",
            f"{plates['plates']} plates ({plates['annotated_text']} with annotated text), "
            f"{plates['covered']} covered by the mask, {plates['missed']} missed. OCR ceiling on "
            f"the unmasked plates: {_pct(plates['ceiling_exact'])} read whole, character "
            f"accuracy {_pct(plates['ceiling_char_accuracy'])}. " + _choice_note(plates, "plates"),
            "",
        ]  # fmt: skip
        head, rows = _plate_table(plates)
        lines += _md_table(head, rows) + [""]
    lines += [
        "Attacks: `none`; `deconvolution`, Wiener with Gaussian and box PSFs scaled to the "
        "mask; `upscale-sharpen`, averaging to a cell grid, bicubic up-scaling and an unsharp "
        "mask. Per family the attacker keeps the variant that did best on other objects, "
        "and aligns faces with the original's landmarks. Controls show the attacks work.", "",
    ]  # fmt: skip
    if images:
        lines += ["## Plots", ""] + [f"![{Path(p).stem}]({p})" for p in images] + [""]
    if note:
        lines += [f"_{note}_", ""]
    return "\n".join(lines)


def _plot(out: Path, result: Mapping[str, Any]) -> list[str]:
    from matplotlib.figure import Figure

    written = []
    for key, value, title, ref in (
        ("faces", "rank1", "Face re-identification rank-1 (dashed: chance)", "chance"),
        ("plates", "exact", "Whole plates read (dashed: OCR ceiling)", "ceiling_exact"),
    ):
        part = result.get(key)
        if not part:
            continue
        setups = list(dict.fromkeys(r["setup"] for r in part["rows"]))
        attacks = list(dict.fromkeys(r["attack"] for r in part["rows"]))
        fig = Figure(figsize=(max(6, 1.1 * len(setups)), 4), dpi=100)
        ax = fig.add_subplot()
        x = np.arange(len(setups))
        width = 0.8 / max(1, len(attacks))
        for k, atk in enumerate(attacks):
            vals = [next((r[value] for r in part["rows"] if r["setup"] == s and r["attack"] == atk),
                         np.nan) for s in setups]  # fmt: skip
            vals = [np.nan if v is None else 100 * v for v in vals]
            ax.bar(x + (k - (len(attacks) - 1) / 2) * width, vals, width, label=atk)
        if part.get(ref) is not None:
            ax.axhline(100 * part[ref], ls="--", color="k", lw=1)
        ax.set_yscale("symlog", linthresh=1.0)
        ax.set_xticks(x, setups, rotation=20, ha="right")
        ax.set(ylabel="%", title=title)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize="small")
        fig.tight_layout()
        name = f"{key}_attacks.png"
        fig.savefig(out / name)
        written.append(name)
    return written


def write_audit(out_dir: str | os.PathLike[str], result: Mapping[str, Any]) -> list[Path]:
    """Write ``audit.json``, ``report.md`` and (with matplotlib) the plots; return paths."""
    out = _out_dir(out_dir)
    cleaned = clean_metrics(result)
    path = out / "audit.json"
    write_text_atomic(path, json.dumps(cleaned, indent=2, allow_nan=False) + "\n")
    images: list[str] = []
    note = None
    try:
        images = _plot(out, cleaned)
    except ImportError:
        note = "Plots omitted: matplotlib is not installed (pip install 'veil[report]')."
    except OSError as exc:
        raise OutputError(f"{out}: cannot write plots ({exc.strerror or exc})") from None
    report = out / "report.md"
    write_text_atomic(report, _markdown(cleaned, images, note))
    return [path, *(out / p for p in images), report]


def _small_faces(v: Mapping[str, Any]) -> str:
    """The smallest faces' short-list line of a verdict, or "" where there is none."""
    if "small_split_hits" not in v:
        return ""
    enough = "" if v["small_split_decides"] else ", too few to decide"
    return (f"{v['small_faces']} px: {v['small_split_hits']} hits "
            f"({v['small_split_expected']:.1f} expected){enough}")  # fmt: skip


def _track_verdict(v: Mapping[str, Any], tracks: Mapping[str, Any]) -> str:
    """A face-track verdict in words: the decided line first, then both counts."""
    text = f"{'pass' if v['pass'] else 'FAIL'} (decided on {v['line_on']})"
    if "within_clip_hits" in v:
        text += (
            f"; first among its clip's faces at most {v['within_clip_hits']} of "
            f"{tracks['within_clip_n']} ({v['within_clip_attack']}, "
            f"{v['within_clip_probe']}; chance "
            f"{tracks['within_clip_n'] * tracks['within_clip_chance']:.1f}), 95% upper bound "
            f"{v['within_clip_upper_x']:.1f}x chance: "
            f"{'' if v['within_clip_certified'] else 'not '}certified"
        )
    return (
        text + f"; in one gallery at most {v['hits']} of {tracks['tracks']} ({v['attack']}, "
        f"{v['probe']}), line 2x chance: {'pass' if v['one_gallery_pass'] else 'FAIL'}"
    )


def summary(result: Mapping[str, Any]) -> str:
    """The verdict lines for the terminal."""
    lines = []
    faces = result.get("faces")
    if faces:
        lines.append(f"faces: gallery {faces['gallery']}, chance rank-1 {_pct(faces['chance'])}, "
                     f"covered {faces['covered']}, missed {faces['missed']}")  # fmt: skip
        for r in faces["rows"]:
            lines.append(f"  {r['setup']:<14} {r['attack']:<16} rank-1 {_pct(r['rank1']):>8} "
                         f"rank-5 {_pct(r['rank5']):>8}  n={r['n']}")  # fmt: skip
        for v in faces["verdicts"]:
            ok = "pass" if v["covered_pass"] else "FAIL"
            ok_e2e = "pass" if v["end_to_end_pass"] else "FAIL"
            luck = (f" ({v['rank1_hits']} hits; as many by chance alone {_p(v['rank1_p_chance'])})"
                    if "rank1_p_chance" in v else "")  # fmt: skip
            small = _small_faces(v)
            small = f"; faces {small}" if small else ""
            lines.append(f"  verdict {v['setup']}: {'pass' if v['pass'] else 'FAIL'} "
                         f"(decided on {v['line_on']}{small})")  # fmt: skip
            lines.append(f"  verdict {v['setup']} in one gallery: covered {ok}{luck}, "
                         f"end to end {ok_e2e}")  # fmt: skip
            if "split_pass" in v:
                lines.append(f"  verdict {v['setup']} in {faces['galleries']} galleries: "
                             f"rank-1 {_pct(v['split_rank1'])} (chance {_pct(v['split_chance'])}), "
                             f"covered {'pass' if v['split_pass'] else 'FAIL'}, end to end "
                             f"{'pass' if v['split_end_to_end_pass'] else 'FAIL'}; 95% upper "
                             f"bound {v['split_upper95'] / v['split_chance']:.1f}x chance: "
                             f"{'' if v['split_certified'] else 'not '}certified")  # fmt: skip
            if "within_photo_upper95" in v:
                up = v["within_photo_upper95"] / v["within_photo_chance"]
                lines.append(f"  verdict {v['setup']} among its photo's faces: rank-1 "
                             f"{_pct(v['within_photo_rank1'])} (chance "
                             f"{_pct(v['within_photo_chance'])}); 95% upper bound {up:.1f}x "
                             f"chance: {'' if v['within_photo_certified'] else 'not '}"
                             "certified")  # fmt: skip
    tracks = result.get("face_tracks")
    if tracks and tracks.get("tracks"):
        lines.append(f"video face tracks: {tracks['tracks']}, chance {_pct(tracks['chance'])}")
        for r in tracks["rows"]:
            lines.append(f"  {r['setup']:<14} {r['attack']:<16} rank-1 hits one frame "
                         f"{r['hits_single']:>3}, track average {r['hits_average']:>3}  "
                         f"n={r['n']}")  # fmt: skip
        for name, v in (tracks.get("verdicts") or {}).items():
            lines.append(f"  verdict {name}: {_track_verdict(v, tracks)}")
    ptracks = result.get("plate_tracks")
    if ptracks and ptracks.get("tracks"):
        lines.append(f"video plate tracks: {ptracks['tracks']}")
        for r in ptracks["rows"]:
            lines.append(f"  {r['setup']:<14} {r['attack']:<16} whole one frame "
                         f"{r['exact_single']:>4}, track average {r['exact_average']:>4}  "
                         f"n={r['n']}")  # fmt: skip
    plates = result.get("plates")
    if plates:
        lines.append(f"plates: {plates['plates']}, OCR ceiling {_pct(plates['ceiling_exact'])} "
                     "read whole")  # fmt: skip
        for r in plates["rows"]:
            lines.append(f"  {r['setup']:<14} {r['attack']:<16} whole {r['exact_count']:>4} "
                         f"chars {_pct(r['char_accuracy']):>8}  n={r['n']}")  # fmt: skip
    return "\n".join(lines)
