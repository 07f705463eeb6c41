"""What a command loads at start: nothing a `veil mask` run does not use (issue 32, speed).

Each check runs in a fresh interpreter, since this one has long loaded everything.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


def _fresh(code: str, **env: str) -> dict:
    """Run ``code`` in a new interpreter; it prints one JSON value, returned here."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("OPENBLAS_")}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=base | env
    )
    return json.loads(out.stdout)


_LOADED = """
import json, sys
print(json.dumps(sorted(m for m in sys.modules if m in WATCH or m.startswith(PREFIXES))))
"""


def test_import_veil_loads_neither_numpy_nor_the_package_metadata():
    code = "import veil\nWATCH = {'numpy', 'importlib.metadata'}\nPREFIXES = ('veil.',)\n"
    assert _fresh(code + _LOADED) == ["veil.errors"]


def test_the_lazy_names_of_veil_still_resolve():
    from importlib import metadata

    code = (
        "import json, veil\nfrom veil import Settings, __version__\n"
        "print(json.dumps([__version__, veil.CLASSES[0], veil.Regions.__name__, "
        "Settings.__name__, veil.Engine.__name__]))"
    )
    assert _fresh(code) == [metadata.version("veil"), "face", "Regions", "Settings", "Engine"]


def test_a_mask_run_parses_without_loading_live_project_heif_or_tqdm():
    code = (
        "from veil.cli import _command_name, build_parser\n"
        "argv = ['mask', 'in.mp4', '-o', 'out.mp4', '-q']\n"
        "build_parser(_command_name(argv)).parse_args(argv)\n"
        "from veil.cli import _progress_bars\n_progress_bars(True)\n"
        "WATCH = {'importlib.metadata', 'tqdm', 'pillow_heif'}\n"
        "PREFIXES = ('veil.live', 'veil.project')\n"
    )
    assert _fresh(code + _LOADED) == []


@pytest.mark.parametrize("argv", [["--help"], ["live", "--help"], ["review", "--help"]])
def test_help_of_every_command_and_of_the_lazy_ones(argv, capsys):
    from veil.cli import main

    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 0
    out = capsys.readouterr().out
    if argv == ["--help"]:
        for name in ("mask", "detect", "eval", "audit", "serve", "review", "demo", "policies"):
            assert f"    {name} " in out
        assert "    live" in out  # the last, its help on the next line
    else:
        assert out.startswith(f"usage: veil {argv[0]} ")


def test_an_unknown_command_names_every_command(capsys):
    from veil.cli import main

    with pytest.raises(SystemExit) as e:
        main(["mak", "x.mp4"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'mak'" in err and "'review'" in err and "'live'" in err


def test_openblas_threads_do_not_spin_and_a_users_setting_is_kept():
    code = "import json, os, veil.cli\nprint(json.dumps(os.environ['OPENBLAS_THREAD_TIMEOUT']))"
    assert _fresh(code) == "4"
    assert _fresh(code, OPENBLAS_THREAD_TIMEOUT="12") == "12"
