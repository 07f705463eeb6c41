"""The project side of ``veil detect`` and ``veil mask``: ``--project`` and ``--report``.

Kept out of ``cli.py`` so the CLI stays a thin loop over files: it asks
:class:`ProjectJobs` to run a file when a project or report option is given,
and to write the project and the report once every file is done.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError
from ..settings import Settings
from .build import detect_entry, entry_from_frames
from .document import Project
from .model import FileEntry
from .render import render_file, sha256_file
from .report import FileRecord, write_report
from .textcats import stamp_entry, take_text_lines

if TYPE_CHECKING:
    from ..pipeline import Engine, FileResult, Progress

log = logging.getLogger(__name__)


def _check_policy(project: Project, settings: Settings) -> None:
    """Refuse to render a project made under a policy unless ``--policy`` is given again.

    Rendering takes the method and margins from the run, so a project reviewed under
    ``dataset-release`` (texture) would otherwise be rendered with the default blur.
    """
    if settings.policy:
        return
    for entry in project.files:
        made = entry.settings.get("policy") if isinstance(entry.settings, dict) else None
        if made:
            name = made.get("name", "?") if isinstance(made, dict) else "?"
            raise ConfigError(
                f"the project was made under policy {name!r}; give --policy again "
                "(the same one, or the one to render under) to render it"
            )


class ProjectJobs:
    """Per-file work for ``--project`` / ``--report``, and the files written at the end."""

    def __init__(
        self,
        settings: Settings,
        detect_only: bool,
        project: Path | None,
        report: Path | None,
    ) -> None:
        self.settings = settings
        self.detect_only = detect_only
        self.project_path = project
        self.report_path = report
        self.source: Project | None = None  # the project rendered by `veil mask --project`
        self.made = Project()  # the project written by `veil detect --project`
        self.records: list[FileRecord] = []
        if project is not None and not detect_only:
            self.source = Project.load(project)
            self.project_sha256 = sha256_file(project)
            _check_policy(self.source, settings)

    @classmethod
    def from_args(
        cls, args: argparse.Namespace, settings: Settings, detect_only: bool
    ) -> ProjectJobs | None:
        project = getattr(args, "project", None)
        report = getattr(args, "report", None)
        if project is None and report is None:
            return None
        if report is not None and report.suffix.lower() not in (".md", ".json"):
            raise ConfigError(f"{report}: --report must end in .md or .json")
        if detect_only and getattr(args, "json", None) is not None:
            raise ConfigError("veil detect: give --json or --project, not both")
        return cls(settings, detect_only, project, report)

    @property
    def needs_engine(self) -> bool:
        """Rendering a project runs no detector: no model is loaded."""
        return self.source is None

    def files_written(self) -> list[tuple[str, Path | None]]:
        """(option, path) of the files written besides the outputs."""
        out: list[tuple[str, Path | None]] = [("--report", self.report_path)]
        if self.detect_only:
            out.append(("--project", self.project_path))
        return out

    def run(
        self,
        engine: Engine | None,
        src: Path,
        dst: Path | None,
        rel: str,
        progress: Progress | None,
    ) -> FileResult:
        from ..pipeline import FileResult, media_kind

        kind = media_kind(src) or "unknown"
        take_text_lines(engine)  # what an earlier file left
        if self.detect_only:
            assert engine is not None
            entry = self._stamp(detect_entry(engine, src, rel, progress), engine)
            self.made.add_entry(entry)
            counts: dict[str, int] = {}
            for t in entry.tracks.values():
                counts[t.label] = counts.get(t.label, 0) + 1
            return FileResult(src, None, kind, frames=entry.frames, counts=counts)
        assert dst is not None
        if self.source is not None:
            entry = self.source.entry(rel)
            counts = render_file(entry, src, dst, self.settings, progress)
            result = FileResult(src, dst, kind, frames=entry.frames, counts=counts)
        else:  # a direct run with --report: the same entry a project would hold
            assert engine is not None
            result = engine.mask_file(src, dst, progress=progress, collect=True)
            first = result.detections[0] if result.detections else None
            w, h = (first.width, first.height) if first else (1, 1)
            entry = entry_from_frames(
                rel,
                kind,
                sha256_file(src),
                ((f.index, f.regions) for f in result.detections),
                max(1, result.frames),
                w,
                h,
                self.settings,
            )
            entry = self._stamp(entry, engine)
        if self.report_path is not None:
            self.records.append(FileRecord(entry, sha256_file(dst)))
        return result

    def _stamp(self, entry: FileEntry, engine: Engine | None) -> FileEntry:
        return stamp_entry(entry, engine, self.settings)

    def finish(self) -> None:
        """Write the project (detect) or the report (mask), atomically."""
        if self.detect_only and self.project_path is not None:
            self.made.save(self.project_path)
            log.info("project written: %d file(s)", len(self.made.files))
        if self.report_path is not None:
            write_report(
                self.report_path,
                self.records,
                self.settings,
                project=self.project_path,
                project_sha256=getattr(self, "project_sha256", None),
            )
