"""The documentation site: generated references, a strict build, nothing loaded from outside."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import docs_reference as ref  # noqa: E402


def test_cli_reference_holds_every_command_and_option():
    from veil.cli import build_parser

    text = ref.cli_reference()
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    assert sub.choices, "no commands found"
    for name, command in sub.choices.items():
        assert f"## veil {name}\n" in text
        for action in command._actions:
            if action.help == argparse.SUPPRESS:  # hidden on purpose (test hooks)
                continue
            for option in action.option_strings:
                assert option in text, f"veil {name} {option} missing from the CLI page"


def test_rest_reference_lists_every_route():
    pytest.importorskip("fastapi")
    spec = ref.openapi_schema()
    text = ref.rest_reference(spec)
    for path, methods in spec["paths"].items():
        for method in methods:
            assert f"`{method.upper()} {path}`" in text


@pytest.mark.parametrize(
    "html",
    [
        '<script src="https://cdn.example.org/x.js"></script>',
        "<img src=//cdn.example.org/a.png>",
        '<link rel="stylesheet" href="https://fonts.googleapis.com/css?family=Roboto">',
        '<link rel="preconnect" href="https://fonts.gstatic.com">',
        "<style>@import 'https://example.org/a.css';</style>",
        "body { background: url(https://example.org/bg.png) }",
        '<img srcset="https://example.org/a.png 2x">',
    ],
)
def test_an_external_resource_is_found(html):
    assert ref.external_loads(html)


def test_links_and_local_resources_are_not_loads():
    html = (
        '<a href="https://distributed.dask.org">Dask</a><script src="assets/x.js"></script>'
        '<link rel="stylesheet" href="assets/main.css"><img src="images/a.jpg">'
        '<svg xmlns="http://www.w3.org/2000/svg"></svg>'
    )
    assert ref.external_loads(html) == []


def test_a_mermaid_diagram_counts_as_an_external_load(tmp_path):
    (tmp_path / "a.html").write_text('<pre class="mermaid">graph LR</pre>')
    assert ref.check_offline(tmp_path)


def test_the_site_builds_strictly_and_loads_nothing_from_outside(tmp_path):
    pytest.importorskip("mkdocs")
    pytest.importorskip("material")
    site = tmp_path / "site"
    run = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert ref.check_offline(site) == []
    assert (site / "openapi.json").is_file()
    cli = (site / "cli.html").read_text(encoding="utf-8")
    assert "veil demo" in cli and "--version" in cli
    index = (site / "index.html").read_text(encoding="utf-8")
    assert "fonts.googleapis" not in index and "fonts.gstatic" not in index
