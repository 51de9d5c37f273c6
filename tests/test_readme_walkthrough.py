"""What the README promises of the commands it shows, checked as a newcomer would try them."""

from __future__ import annotations

import re
import sys

import pytest

from attentext import cli
from attentext.cli import serve as serve_cli
from attentext.errors import AttentextError


def run_main(argv: list[str]) -> int:
    """`attentext ARGV` in this process; the exit status."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "argv", ["attentext", *argv])
        try:
            cli.main()
        except SystemExit as exit_:
            return exit_.code
    return 0  # `main` returns on success


def test_serve_takes_max_chars_as_the_readme_says(monkeypatch, capsys, tmp_path):
    # README, long documents: "Serve long texts with a higher `--max-chars` (default 10,000)".
    made = []
    settings = serve_cli._settings
    monkeypatch.setattr(serve_cli, "_settings", lambda **v: made.append(settings(**v)) or made[-1])

    def stop(*args) -> None:
        raise AttentextError("stopped before loading")

    monkeypatch.setattr(serve_cli, "_check_options", stop)
    assert run_main(["serve", str(tmp_path / "run"), "--max-chars", "50000"]) == 2
    assert run_main(["serve", str(tmp_path / "run")]) == 2
    assert [s.max_chars for s in made] == [50_000, 10_000]
    capsys.readouterr()


def test_serve_refuses_a_max_chars_under_1_naming_the_option(capsys, tmp_path):
    assert run_main(["serve", str(tmp_path / "no-run"), "--max-chars", "0"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --max-chars must be at least 1, got 0")


def test_explain_help_names_the_png_files_it_writes(monkeypatch, capsys):
    # README, see what the attention looks at: explanations/explanation-0.png. The help's
    # "explanation-<i>.png" lost its <i> as an HTML tag in the Markdown help (explanation-.png).
    monkeypatch.setenv("COLUMNS", "300")
    assert run_main(["explain", "--help"]) == 0
    assert re.search(r"explanation-N\.png \(N from 0\)", capsys.readouterr().out)
