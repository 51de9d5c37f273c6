"""Every `python benchmarks/X.py ...` command of benchmarks/README.md and the Makefile parses.

The benchmarks run outside CI, so an option renamed in a script (or a line broken inside an
argument) would leave the documented command failing unseen. Each script is run up to its
`parse_args` only: the parser raises before the script does any work. Commands with `...` (an
elision) are checked for their option names only; shell variables take the value the README
last assigned them (`S="--max-train 2000 --max-test 1000"`).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import runpy
import shlex
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
VARIABLES = {"d": "0", "ds": "trec"}  # loop variables; the others are set in the block
ASSIGNMENT = re.compile(r"^ {4}(\w+)=(\"[^\"]*\"|[^\s;]+)", re.MULTILINE)  # NAME=VALUE, code


def _commands() -> list[tuple[str, str, str]]:
    """(where, script, arguments) of each command line in the README's code blocks and inline
    spans and in the Makefile's recipes (their variables written out as the README does)."""
    found = []
    text = (BENCH / "README.md").read_text()
    joined = text.replace("\\\n", "")  # as the shell joins a continued line
    # an inline `command` may wrap over lines of the prose: one line
    joined = re.sub(r"`[^`]+`", lambda span: span.group(0).replace("\n", " "), joined)
    assigned = [(m.start(), m.group(1), m.group(2).strip('"')) for m in ASSIGNMENT.finditer(joined)]
    for match in re.finditer(r"python3? +(?:\.\./)?(?:benchmarks/)?(\w+)\.py([^`\n;|&#]*)", joined):
        line = joined.count("\n", 0, match.start()) + 1
        arguments = match.group(2)
        # each variable as the nearest assignment says: a prose span may name the next block's
        nearest = sorted(assigned, key=lambda a: -abs(a[0] - match.start()))
        values = {**VARIABLES, **{name: value for _, name, value in nearest}}
        for name, value in values.items():
            arguments = re.sub(rf"\$\{{?{name}\}}?\b", value, arguments)
        found.append((f"README.md (joined line {line})", match.group(1), arguments))
    make = (ROOT / "Makefile").read_text().replace("\\\n", "")
    values = dict(re.findall(r"^(\w+) *[:?]?= *(.*)$", make, re.MULTILINE))
    for _ in range(3):  # $(SUITE) holds $(SUITE_CAPS), $(SERVE_LOAD) $(DATA)
        make = re.sub(r"\$\((\w+)\)", lambda v: values.get(v.group(1), v.group(0)), make)
    for match in re.finditer(r"python3? +(?:benchmarks/)?(\w+)\.py([^\n;|&]*)", make):
        found.append(("Makefile", match.group(1), match.group(2)))
    return [c for c in found if (BENCH / f"{c[1]}.py").exists()]


class _Parsed(Exception):
    pass


def _parser_of(script: str, argv: list[str], monkeypatch) -> tuple[argparse.ArgumentParser, str]:
    """The script's parser after it parsed `argv`, and what it wrote to stderr (an error)."""
    seen: dict[str, argparse.ArgumentParser] = {}

    def patched(original):
        def parse(self, args=None, namespace=None):
            if "parser" in seen:  # parse_args' own parse_known_args, or a subcommand's parser
                return original(self, args, namespace)
            seen["parser"] = self
            original(self, args, namespace)  # parse_args reports unrecognized arguments
            raise _Parsed

        return parse

    for name in ("parse_args", "parse_known_args"):
        original = getattr(argparse.ArgumentParser, name)
        monkeypatch.setattr(argparse.ArgumentParser, name, patched(original))
    monkeypatch.setattr(sys, "argv", [f"{script}.py", *argv])
    monkeypatch.syspath_prepend(str(BENCH))
    error = io.StringIO()
    with (
        contextlib.redirect_stderr(error),
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.suppress(_Parsed, SystemExit),
    ):
        runpy.run_path(str(BENCH / f"{script}.py"), run_name="__main__")
    return seen.get("parser"), error.getvalue()


def _options(parser: argparse.ArgumentParser) -> set[str]:
    names = set(parser._option_string_actions)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                names |= _options(sub)
    return names


@pytest.mark.parametrize(("where", "script", "arguments"), _commands())
def test_documented_benchmark_command_parses(where, script, arguments, monkeypatch):
    argv = shlex.split(arguments.replace("(x4)", ""))
    elided = any("..." in a or a.startswith("[") for a in argv)
    parser, error = _parser_of(script, [a for a in argv if "..." not in a], monkeypatch)
    assert parser is not None, f"{where}: {script}.py never parsed its arguments:\n{error}"
    named = {re.match(r"--[\w-]+", a).group(0) for a in argv if re.match(r"--\w", a)}
    unknown = named - _options(parser)
    assert not unknown, f"{where}: {script}.py has no {sorted(unknown)}"
    if not elided:
        assert "error:" not in error, f"{where}: python benchmarks/{script}.py{arguments}\n{error}"
