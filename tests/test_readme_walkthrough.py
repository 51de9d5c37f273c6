"""What the README promises of the commands it shows, checked as a newcomer would try them."""

from __future__ import annotations

import re
import sys

import pytest

from attentext import cli
from attentext.cli import serve as serve_cli
from attentext.cli.common import show_report
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


def test_a_multi_label_evaluation_prints_the_figures_the_readme_names(capsys):
    # README, several labels per text: `attentext evaluate runs/tags ...  # micro/macro/samples
    # F1, Hamming loss`. The headline printed "accuracy" (subset accuracy, unnamed) and macro-F1.
    report = {
        "problem_type": "multi_label",
        "accuracy": 0.725,
        "micro_f1": 0.7876,
        "macro_f1": 0.2747,
        "samples_f1": 0.7883,
        "hamming_loss": 0.0063,
        "n_examples": 200,
        "per_class": {"grain": {"precision": 1.0, "recall": 0.5, "f1": 0.667, "support": 2}},
    }
    show_report(report, "runs/tags on reut")
    shown = " ".join(capsys.readouterr().out.split())
    for figure in ("micro-F1 0.7876", "macro-F1 0.2747", "samples-F1 0.7883"):
        assert figure in shown
    assert "subset accuracy 0.7250" in shown and "Hamming loss 0.0063" in shown
