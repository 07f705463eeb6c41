"""MkDocs hook: the reference pages are generated at build time, so they cannot drift.

- ``<!-- veil:cli-reference -->`` in a page becomes ``veil --help`` and every
  command's ``--help``, formatted by the very argparse parsers ``veil`` runs.
- ``<!-- veil:rest-api -->`` becomes the REST API, rendered from the OpenAPI schema of
  ``veil serve``'s app; the schema itself is added to the site as ``openapi.json``.
- After the build, every HTML, CSS and JS file of the site is checked for resources
  loaded from outside the machine (``src=``, stylesheet and preload links, CSS
  ``url()`` and ``@import``); one fails the build. Links a reader may click are fine.
- Pages in ``docs/`` that the nav does not name are listed under "More", so a page
  added without a nav entry is still reachable.

Run by ``mkdocs build`` (``hooks:`` in mkdocs.yml); the functions are also tested
directly (``tests/test_docs.py``).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CLI_MARKER = "<!-- veil:cli-reference -->"
API_MARKER = "<!-- veil:rest-api -->"
HELP_WIDTH = "100"

#: Attributes and CSS forms through which a page loads something (an <a href> only links).
_LOADS = re.compile(
    r"""(?:\bsrc\s*=\s*["']?|\bsrcset\s*=\s*["']?|url\(\s*["']?|@import\s+["']?)"""
    r"""((?:https?:)?//[^\s"')]+)""",
    re.IGNORECASE,
)
_LINK_TAG = re.compile(r"<link\b[^>]*>", re.IGNORECASE)
_HREF = re.compile(r"""\bhref\s*=\s*["']?((?:https?:)?//[^\s"'>]+)""", re.IGNORECASE)


@contextmanager
def _columns(width: str):
    """argparse wraps help to the terminal's width: fix it so the page is the same anywhere."""
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = width
    try:
        yield
    finally:
        if old is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = old


def cli_reference() -> str:
    """``veil --help`` and each command's help, as Markdown, in ``veil --help``'s order."""
    from veil.cli import build_parser

    with _columns(HELP_WIDTH):
        parser = build_parser()
        sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
        parts = ["## veil", "", "```text", parser.format_help().rstrip(), "```", ""]
        for name, command in sub.choices.items():
            parts += [f"## veil {name}", "", "```text", command.format_help().rstrip(), "```", ""]
    return "\n".join(parts)


def openapi_schema() -> dict[str, Any]:
    """The OpenAPI schema of ``veil serve``'s app (no server, no model is started)."""
    from veil.web.app import create_app
    from veil.web.jobs import JobManager

    with tempfile.TemporaryDirectory() as tmp:
        manager = JobManager(Path(tmp), engine_factory=lambda settings: None)
        try:
            return create_app(manager, "docs").openapi()
        finally:
            manager.shutdown()


def _schema_name(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    if "anyOf" in schema:
        return " or ".join(_schema_name(s) for s in schema["anyOf"])
    if schema.get("type") == "array":
        return f"array of {_schema_name(schema.get('items', {}))}"
    return str(schema.get("type", "any"))


def rest_reference(spec: dict[str, Any]) -> str:
    """Every route: method, path, summary, parameters, body and responses; then the schemas."""
    parts = [spec["info"].get("description", ""), ""]
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            parts += [f"### `{method.upper()} {path}`", ""]
            if op.get("summary"):
                parts += [op["summary"], ""]
            params = [p for p in op.get("parameters", []) if p["name"].lower() != "x-veil-token"]
            if params:
                parts += ["| parameter | in | type | required |", "|---|---|---|---|"]
                parts += [
                    f"| `{p['name']}` | {p['in']} | {_schema_name(p.get('schema', {}))} "
                    f"| {'yes' if p.get('required') else 'no'} |"
                    for p in params
                ]
                parts.append("")
            body = op.get("requestBody", {}).get("content", {})
            for mime, content in body.items():
                parts += [f"Body ({mime}): {_schema_name(content.get('schema', {}))}", ""]
            parts += ["Responses:", ""]
            parts += [f"- {c}: {r.get('description', '')}" for c, r in op["responses"].items()]
            parts.append("")
    schemas = spec.get("components", {}).get("schemas", {})
    if schemas:
        parts += ["## Schemas", ""]
        for name, schema in schemas.items():
            parts += [f"### {name}", "", "```json", json.dumps(schema, indent=2), "```", ""]
    return "\n".join(parts)


def external_loads(text: str) -> list[str]:
    """URLs outside the machine that ``text`` (HTML, CSS or JS) would load, not just link."""
    found = [m.group(1) for m in _LOADS.finditer(text)]
    for tag in _LINK_TAG.findall(text):
        found += [m.group(1) for m in _HREF.finditer(tag)]
    return found


def check_offline(site: Path) -> list[str]:
    """``file: url`` for every external resource a built site would load.

    The theme's script can also fetch from outside on its own: mermaid (from a CDN) for a
    diagram, and repository facts (GitHub's API) when ``repo_url`` is set; so a diagram
    counts as an external load here, and ``on_config`` refuses ``repo_url``.
    """
    bad = []
    for f in sorted(site.rglob("*")):
        if f.suffix in (".html", ".css", ".js") and f.is_file():
            text = f.read_text(encoding="utf-8", errors="replace")
            bad += [f"{f.relative_to(site)}: {url}" for url in external_loads(text)]
            if f.suffix == ".html" and re.search(r"""class=["'][^"']*\bmermaid\b""", text):
                bad.append(f"{f.relative_to(site)}: a mermaid diagram (loaded from a CDN)")
    return bad


def _named_in_nav(nav: Any) -> set[str]:
    if isinstance(nav, str):
        return {nav}
    if isinstance(nav, dict):
        return set().union(*(_named_in_nav(v) for v in nav.values()))
    if isinstance(nav, list):
        return set().union(set(), *(_named_in_nav(v) for v in nav))
    return set()


# -- MkDocs hook events ---------------------------------------------------------
_SPEC: dict[str, Any] = {}


def on_config(config: Any) -> Any:
    from mkdocs.exceptions import PluginError

    if config.get("repo_url"):
        raise PluginError("repo_url makes the theme fetch repository facts from outside")
    docs = Path(config["docs_dir"])
    named = _named_in_nav(config["nav"] or [])
    extra = sorted(
        p.relative_to(docs).as_posix() for p in docs.rglob("*.md") if p.is_file()
    )  # fmt: skip
    extra = [p for p in extra if p not in named]
    if extra and config["nav"] is not None:
        config["nav"].append({"More": extra})
    return config


def on_files(files: Any, config: Any) -> Any:
    from mkdocs.structure.files import File

    _SPEC.update(openapi_schema())
    text = json.dumps(_SPEC, indent=2) + "\n"
    files.append(File.generated(config, "openapi.json", content=text))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    if CLI_MARKER in markdown:
        markdown = markdown.replace(CLI_MARKER, cli_reference())
    if API_MARKER in markdown:
        markdown = markdown.replace(API_MARKER, rest_reference(_SPEC))
    return markdown


def on_post_build(config: Any) -> None:
    from mkdocs.exceptions import PluginError

    bad = check_offline(Path(config["site_dir"]))
    if bad:
        raise PluginError("the site would load from outside the machine:\n" + "\n".join(bad))
