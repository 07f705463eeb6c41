"""The rule for tests that need a program outside Python (chromium for the browser tests):
absent, they skip with one line naming the command that installs it; under CI they fail."""

from __future__ import annotations

import sys

import pytest

from conftest import need_program

MISSING = "/nonexistent/veil-test-browser"


def test_a_missing_program_skips_with_the_install_command(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception) as exc:
        need_program(MISSING, "sudo apt-get install chromium")
    message = str(exc.value)
    assert "\n" not in message
    assert MISSING in message and "sudo apt-get install chromium" in message


@pytest.mark.parametrize("value", ["true", "TRUE"])
def test_under_ci_a_missing_program_fails(monkeypatch, value):
    monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.fail.Exception) as exc:
        need_program(MISSING, "sudo apt-get install chromium")
    assert "sudo apt-get install chromium" in str(exc.value)


def test_a_present_program_is_returned(monkeypatch):
    monkeypatch.setenv("CI", "true")
    assert need_program(sys.executable, "unused") == sys.executable


def test_the_browser_tests_follow_the_rule():
    """They call need_program for chromium, not a skip of their own."""
    import test_web_browser

    src = test_web_browser._need_chromium.__code__.co_names
    assert "need_program" in src
