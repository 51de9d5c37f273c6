"""The bad-input matrix: every user mistake, on every surface, is one clear line and leaves nothing.

Each case builds its inputs in tmp_path and runs on the CLI (in-process: `attentext.cli.main` with
its argv, `run_cli_here`; three cases also as real subprocesses) and on the Python API. A CLI case must exit
non-zero with exactly one stderr line "error: ..." naming the problem, no traceback, and no `<out>`
(nor `<out>.partial` when the error comes before training). An API case must raise the named
`AttentextError` subclass with a one-line message. HTTP cases use FastAPI's TestClient. A few
inputs that look bad but are valid text (control characters, a 1 MB text) must be accepted.
docs/reliability.md lists the matrix and its results.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import pickle
import re
import shutil
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import SENTIMENT_ROWS, labelled_csv, run_cli_here, write_file
from conftest import run_cli as run_cli_subprocess
from fastapi.testclient import TestClient

import attentext
from attentext.errors import AttentextError, DataError, RecipeError, RunDirError
from attentext.training.workdir import last_complete_checkpoint

REPO = Path(__file__).resolve().parents[1]
ROWS = labelled_csv(SENTIMENT_ROWS * 3)  # 18 rows, two classes: enough to train a step


# ---------------------------------------------------------------------------------------------
# Running a case
# ---------------------------------------------------------------------------------------------


def run_cli(*args: str | Path) -> tuple[int, str, str]:
    """`attentext ARGS` in this process: (exit code, stdout, stderr)."""
    result = run_cli_here(*args)
    return result.returncode, result.stdout, result.stderr


PROGRESS = re.compile(r"\d+%\|.*\|").search
ANSI_CURSOR = re.compile(r"\x1b\[\d*[A-D]").sub  # tqdm's cursor moves between nested bars


def assert_one_line_error(code: int, stderr: str, expect: str) -> str:
    assert code != 0
    assert "Traceback" not in stderr
    # Progress bars (transformers' "Loading weights") redraw with \r and are not messages.
    stderr = ANSI_CURSOR("", stderr)
    parts = re.split(r"[\r\n]", stderr)  # an interrupted bar leaves blanks a terminal overwrites
    # `note:` lines say what a run decided (data-aware defaults) before the error came
    lines = [
        line.strip()
        for line in parts
        if line.strip() and not PROGRESS(line) and not line.strip().startswith("note: ")
    ]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error:"), lines[0]
    assert re.search(expect, lines[0]), f"{expect!r} not in {lines[0]!r}"
    return lines[0]


class Evil:
    """A pickle that, when unpickled, creates a file: it must never be unpickled."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return (Path.touch, (self.target,))


@dataclass
class Case:
    """One bad input. `build(tmp, run_dir)` writes it and returns the CLI args and API call."""

    id: str
    surface: str  # what the input reaches: data, recipe, set, run-dir, save, serve
    description: str
    expect: str  # a regex the one-line message must match
    error: type[AttentextError]
    build: Callable[[Path, Path], tuple[list, Callable[[], object] | None]]
    before_training: bool = True  # no `<out>.partial` may be left either
    extra: dict = field(default_factory=dict)


def _train_case(data_of: Callable[[Path], Path], *cli_extra: str, **api_extra):
    """A `train` on the data that `data_of(tmp)` writes: CLI args and the API call."""

    def build(tmp: Path, run_dir: Path):
        data = data_of(tmp)
        out = tmp / "out"
        args = ["train", "seed-transformer", "--data", data, "--output", out, "--max-steps", "1"]
        args += ["--precision", "fp32", *cli_extra]
        options = {"max_steps": 1, "precision": "fp32", **api_extra}
        return args, lambda: attentext.train("seed-transformer", data, out, **options)

    return build


def _recipe_case(text: str):
    def build(tmp: Path, run_dir: Path):
        recipe = write_file(tmp, "recipe.yaml", text)
        out = tmp / "out"
        data = tmp / "d.csv"
        write_file(tmp, "d.csv", ROWS)
        args = ["train", recipe, "--data", data, "--output", out, "--precision", "fp32"]
        return args, lambda: attentext.train(recipe, data, out, precision="fp32")

    return build


def _set_case(*overrides: str):
    def build(tmp: Path, run_dir: Path):
        data = write_file(tmp, "d.csv", ROWS)
        out = tmp / "out"
        args = ["train", "seed-transformer", "--data", data, "--output", out]
        for item in overrides:
            args += ["--set", item]
        return args, lambda: attentext.train(
            "seed-transformer", data, out, overrides=list(overrides)
        )

    return build


def _tampered(change: Callable[[Path], None]):
    """A copy of the session's run directory, changed; predict (CLI) and load (API) must fail."""

    def build(tmp: Path, run_dir: Path):
        copy = tmp / "run"
        shutil.copytree(run_dir, copy)
        change(copy)
        return ["predict", copy, "some text"], lambda: attentext.load(copy, precision="fp32")

    return build


def _edit_json(name: str, **changes):
    def change(run: Path) -> None:
        payload = json.loads((run / name).read_text(encoding="utf-8"))
        payload.update(changes)
        (run / name).write_text(json.dumps(payload), encoding="utf-8")

    return change


def _truncate(run: Path) -> None:
    weights = run / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])


def _flip_header(run: Path) -> None:
    weights = bytearray((run / "model.safetensors").read_bytes())
    weights[8:16] = b"\xff" * 8  # the first bytes of the JSON header
    (run / "model.safetensors").write_bytes(bytes(weights))


def _pickle_only(run: Path) -> None:
    """Weights replaced by a malicious pytorch_model.bin, and the marker edited to match."""
    (run / "model.safetensors").unlink()
    (run / "pytorch_model.bin").write_bytes(pickle.dumps(Evil(run.parent / "PWNED")))
    _edit_json("attentext.json", files=["config.json", "tokenizer.json"])(run)


def _sparse_huge(tmp: Path) -> Path:
    """A 4 GiB file of NUL bytes that takes no disk: refused from its first bytes, not read."""
    path = tmp / "huge.csv"
    with open(path, "wb") as handle:
        handle.truncate(4 * 2**30)
    return path


def _unseen_label(tmp: Path, run_dir: Path):
    data = write_file(
        tmp, "new.csv", labelled_csv([("Stocks rally", "World"), ("a goal", "Weather")])
    )
    return (
        ["evaluate", run_dir, "--data", data],
        lambda: attentext.evaluate(run_dir, data, precision="fp32"),
    )


def _no_label_column(tmp: Path, run_dir: Path):
    data = write_file(tmp, "new.csv", "text,topic\nStocks rally,World\n")
    return (
        ["evaluate", run_dir, "--data", data],
        lambda: attentext.evaluate(run_dir, data, precision="fp32"),
    )


def _input_file(content: bytes | None):
    def build(tmp: Path, run_dir: Path):
        path = tmp / "texts.txt"
        if content is not None:
            path.write_bytes(content)
        return ["predict", run_dir, "--input", path], None

    return build


def _input_data(name: str, content: str):
    """predict --input of a data file (JSONL, CSV) whose texts are read without labels."""

    def build(tmp: Path, run_dir: Path):
        return ["predict", run_dir, "--input", write_file(tmp, name, content)], None

    return build


def _parquet_input(tmp: Path, run_dir: Path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp / "texts.parquet"
    pq.write_table(pa.table({"text": ["fine", None]}), path)
    return ["predict", run_dir, "--input", path], None


def _output_file(command: str, inside: bool = False):
    """`evaluate|explain|export --output` naming an existing file (or a folder inside one)."""

    def build(tmp: Path, run_dir: Path):
        target = write_file(tmp, "report.txt", "not a folder\n")
        args = {
            "evaluate": ["evaluate", run_dir, "--data", write_file(tmp, "d.csv", ROWS)],
            "explain": ["explain", run_dir, "stocks rally"],
            "export": ["export", run_dir],
        }[command]
        return [*args, "--output", target / "sub" if inside else target], None

    return build


def _long_unseen_label(tmp: Path, run_dir: Path):
    data = write_file(tmp, "new.csv", labelled_csv([("Stocks rally", "x" * 10_000)]))
    return (
        ["evaluate", run_dir, "--data", data],
        lambda: attentext.evaluate(run_dir, data, precision="fp32"),
    )


TEXT_AS_LABEL = labelled_csv([(f"review number {i}", f"review number {i}") for i in range(24)])


def _serve_busy_port(tmp: Path, run_dir: Path):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = busy.getsockname()[1]
    OPEN_SOCKETS.append(busy)  # held until the test ends
    return ["serve", run_dir, "--port", port], None


def _existing_output(tmp: Path, run_dir: Path):
    data = write_file(tmp, "d.csv", ROWS)
    out = tmp / "out"
    out.mkdir()
    args = ["train", "seed-transformer", "--data", data, "--output", out]
    return args, lambda: attentext.train("seed-transformer", data, out)


CASES = [
    # --- data files ---------------------------------------------------------------------------
    Case("data-missing", "data", "a --data path that does not exist", "not found", DataError,
         _train_case(lambda t: t / "nope.csv")),
    Case("data-empty", "data", "an empty file", "file is empty", DataError,
         _train_case(lambda t: write_file(t, "e.csv", ""))),
    Case("data-header-only", "data", "a header and no rows", "no data rows", DataError,
         _train_case(lambda t: write_file(t, "h.csv", "text,label\n"))),
    Case("data-binary", "data", "a binary file (random bytes with NULs)", "NUL bytes", DataError,
         _train_case(lambda t: write_file(t, "b.csv", bytes(range(256)) * 40))),
    Case("data-huge-binary", "data", "a 4 GiB file of NULs (sparse)", "NUL bytes", DataError,
         _train_case(_sparse_huge)),
    Case("data-wrong-delimiter", "data", "a ';'-separated .csv", "';'-separated", DataError,
         _train_case(lambda t: write_file(t, "s.csv", ROWS.replace(",", ";")))),
    Case("data-header-mismatch", "data", "columns review,sentiment", "no column 'text'",
         DataError, _train_case(lambda t: write_file(t, "r.csv", ROWS.replace("text,label", "review,sentiment")))),
    Case("data-ragged-row", "data", "a row with an extra field", "row 3: 3 fields", DataError,
         _train_case(lambda t: write_file(t, "x.csv", "text,label\na,pos\nb,neg,x\n"))),
    Case("data-single-class", "data", "every row has the same label", "only one class", DataError,
         _train_case(lambda t: write_file(t, "one.csv", labelled_csv([("a", "pos"), ("b", "pos")])))),
    Case("data-empty-text", "data", "a row whose text is empty", "row 20: text is empty",
         DataError, _train_case(lambda t: write_file(t, "et.csv", ROWS + ",pos\n"))),
    Case("data-nan-text", "data", "a JSONL row with text NaN", "row 2: text is missing", DataError,
         _train_case(lambda t: write_file(t, "n.jsonl", '{"text": "a", "label": "x"}\n{"text": NaN, "label": "y"}\n'))),
    Case("data-list-label", "data", "a JSONL label that is a list", "row 1: label", DataError,
         _train_case(lambda t: write_file(t, "l.jsonl", '{"text": "a", "label": [1]}\n{"text": "b", "label": "y"}\n'))),
    Case("data-mixed-encoding", "data", "UTF-8 file with a Latin-1 row", "row 20: not valid UTF-8",
         DataError, _train_case(lambda t: write_file(t, "m.csv", ROWS.encode() + "café,pos\n".encode("latin-1")))),
    Case("data-utf16", "data", "a UTF-16 file", "UTF-16", DataError,
         _train_case(lambda t: write_file(t, "u.csv", ROWS.encode("utf-16")))),
    Case("data-unsupported-type", "data", "a .xlsx file", "unsupported file type", DataError,
         _train_case(lambda t: write_file(t, "d.xlsx", b"PK\x03\x04"))),
    Case("data-unseen-label", "data", "evaluate on labels unseen at training", "unknown label 'Weather'",
         DataError, _unseen_label),
    Case("data-evaluate-no-label-column", "data", "evaluate on a file without the run's label column",
         r"no column 'label' \(columns: text, topic\); rename the file's columns, or train with "
         "--set data.text_column", DataError, _no_label_column),
    Case("data-long-unseen-label", "data", "evaluate on an unseen label of 10,000 characters",
         r"unknown label 'x{59}…' \(known: ", DataError, _long_unseen_label),
    Case("data-label-is-text", "data", "a label column with a different value in every row",
         "has 24 different values in 24 rows, so it looks like text, not labels", DataError,
         _train_case(lambda t: write_file(t, "t.csv", TEXT_AS_LABEL))),
    # --- recipes and --set --------------------------------------------------------------------
    Case("recipe-invalid-yaml", "recipe", "a YAML syntax error", r"line \d+ invalid YAML",
         RecipeError, _recipe_case("training: [epochs\n")),
    Case("recipe-unknown-key", "recipe", "training.epoch (typo)", "did you mean 'epochs'",
         RecipeError, _recipe_case("training:\n  epoch: 3\n")),
    Case("recipe-unknown-section", "recipe", "a section 'trainng'", "did you mean 'training'",
         RecipeError, _recipe_case("trainng:\n  epochs: 3\n")),
    Case("recipe-not-a-mapping", "recipe", "a YAML list at the top level", "mapping",
         RecipeError, _recipe_case("- a\n- b\n")),
    Case("recipe-bad-type", "recipe", "batch_size: many", "expected an integer", RecipeError,
         _recipe_case("training:\n  batch_size: many\n")),
    Case("set-bad-integer", "set", "--set training.batch_size=abc", "expected an integer",
         RecipeError, _set_case("training.batch_size=abc")),
    Case("set-bad-choice", "set", "--set training.precision=fp64", "precision must be one of",
         RecipeError, _set_case("training.precision=fp64")),
    Case("set-no-equals", "set", "--set training.epochs", "expected key=value", RecipeError,
         _set_case("training.epochs")),
    Case("set-negative", "set", "--set training.learning_rate=-1", "must be positive",
         RecipeError, _set_case("training.learning_rate=-1")),
    Case("set-unknown-key", "set", "--set training.epoch=3", "did you mean 'epochs'",
         RecipeError, _set_case("training.epoch=3")),
    Case("output-exists", "save", "--output names an existing folder", "already exists",
         RunDirError, _existing_output),
    # --- run directories ----------------------------------------------------------------------
    Case("run-missing", "run-dir", "a run directory that does not exist", "run directory not found",
         RunDirError, lambda t, r: (["predict", t / "nope", "x"], lambda: attentext.load(t / "nope"))),
    Case("run-truncated-weights", "run-dir", "model.safetensors cut in half",
         "model.safetensors is damaged", RunDirError, _tampered(_truncate)),
    Case("run-flipped-header", "run-dir", "model.safetensors header bytes overwritten",
         "model.safetensors is damaged", RunDirError, _tampered(_flip_header)),
    Case("run-empty-weights", "run-dir", "model.safetensors of 0 bytes",
         "model.safetensors is damaged", RunDirError,
         _tampered(lambda r: (r / "model.safetensors").write_bytes(b""))),
    Case("run-config-not-json", "run-dir", "config.json is not JSON", "config.json",
         RunDirError, _tampered(lambda r: (r / "config.json").write_text("{nope"))),
    Case("run-config-mismatch", "run-dir", "config.json edited: 2 labels, weights have 4",
         "do not match config.json", RunDirError,
         _tampered(_edit_json("config.json", id2label={"0": "a", "1": "b"}, label2id={"a": 0, "b": 1}))),
    Case("run-missing-tokenizer", "run-dir", "tokenizer.json deleted", "missing file.*tokenizer.json",
         RunDirError, _tampered(lambda r: (r / "tokenizer.json").unlink())),
    Case("run-tokenizer-not-json", "run-dir", "tokenizer.json is not JSON", "cannot load the model",
         RunDirError, _tampered(lambda r: (r / "tokenizer.json").write_text("{bad"))),
    Case("run-marker-damaged", "run-dir", "attentext.json is not JSON", "unreadable run marker",
         RunDirError, _tampered(lambda r: (r / "attentext.json").write_text("{"))),
    Case("run-marker-files-string", "run-dir", "attentext.json 'files' is a string",
         "unreadable run marker", RunDirError,
         _tampered(_edit_json("attentext.json", files="model.safetensors"))),
    Case("run-format-version-99", "run-dir", "attentext.json format_version 99",
         "format version 99.*reads version 1", RunDirError,
         _tampered(_edit_json("attentext.json", format_version=99))),
    Case("run-pickle-weights", "run-dir", "only a malicious pytorch_model.bin",
         "safetensors weights only", RunDirError, _tampered(_pickle_only)),
    # --- predict and serve inputs (CLI only) ----------------------------------------------------
    Case("predict-input-missing", "data", "predict --input FILE that does not exist", "not found",
         DataError, _input_file(None)),
    Case("predict-input-binary", "data", "predict --input a binary file", "NUL bytes", DataError,
         _input_file(b"\x00\x01\x02" * 100)),
    Case("predict-input-blank", "data", "predict --input a file of blank lines", "file is empty",
         DataError, _input_file(b"\n  \n")),
    Case("predict-input-null-text", "data", "predict --input a JSONL text that is null",
         "texts.jsonl: row 2: text is missing", DataError,
         _input_data("texts.jsonl", '{"text": "fine"}\n{"text": null}\n')),
    Case("predict-input-list-text", "data", "predict --input a JSONL text that is a list",
         "texts.jsonl: row 2: text is a list, not a string$", DataError,
         _input_data("texts.jsonl", '{"text": "fine"}\n{"text": ["a", "list"]}\n')),
    Case("predict-input-number-text", "data", "predict --input a JSONL text that is a number",
         r"texts.jsonl: row 2: text is a number \(42\), not a string", DataError,
         _input_data("texts.jsonl", '{"text": "fine"}\n{"text": 42}\n')),
    Case("predict-input-parquet-null", "data", "predict --input a Parquet text that is null",
         "texts.parquet: row 2: text is missing", DataError, _parquet_input),
    Case("predict-input-no-text-column", "data", "predict --input a CSV without a text column",
         "no column 'text' \\(columns: review\\); name the column of texts 'text' "
         "\\(predict --input: or --text-column NAME\\)", DataError,
         _input_data("texts.csv", "review\ngood\n")),
    Case("evaluate-output-file", "save", "evaluate --output naming an existing file",
         "--output names a file, not a folder", AttentextError, _output_file("evaluate")),
    Case("explain-output-file", "save", "explain --output naming an existing file",
         "--output names a file, not a folder", AttentextError, _output_file("explain")),
    Case("export-output-file", "save", "export --output naming an existing file",
         "--output names a file, not a folder", AttentextError, _output_file("export")),
    Case("output-inside-a-file", "save", "evaluate --output FILE/sub (a folder inside a file)",
         "--output is inside .*report.txt, which is a file", AttentextError,
         _output_file("evaluate", inside=True)),
    Case("cli-bad-option-value", "set", "--epochs abc", "Invalid value for '--epochs'",
         AttentextError,
         lambda t, r: (["train", "seed-transformer", "--data", t, "--output", t / "out",
                        "--epochs", "abc"], None)),
    Case("serve-port-in-use", "serve", "serve --port of a bound socket", "already in use",
         AttentextError, _serve_busy_port),
]  # fmt: skip
IDS = [case.id for case in CASES]
CLI_ONLY = {  # inputs that exist only on the command line: argv parsing, --input, --port
    "predict-input-missing",
    "predict-input-binary",
    "predict-input-blank",
    "predict-input-null-text",
    "predict-input-list-text",
    "predict-input-number-text",
    "predict-input-parquet-null",
    "predict-input-no-text-column",
    "evaluate-output-file",  # the --output check is the CLI's, before any work
    "explain-output-file",
    "export-output-file",
    "output-inside-a-file",
    "cli-bad-option-value",
    "serve-port-in-use",
}
OPEN_SOCKETS: list[socket.socket] = []


@pytest.fixture(autouse=True)
def _close_sockets():
    yield
    while OPEN_SOCKETS:
        OPEN_SOCKETS.pop().close()


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_cli_one_line_error(case, run_dir, tmp_path):
    args, _ = case.build(tmp_path, run_dir)

    code, _, stderr = run_cli(*args)

    assert_one_line_error(code, stderr, case.expect)
    out = tmp_path / "out"
    if case.id != "output-exists":
        assert not out.exists(), "a half-written run directory was left"
    if case.before_training:
        assert not out.with_name("out.partial").exists()
    assert not (tmp_path / "PWNED").exists(), "a pickle was unpickled"


@pytest.mark.parametrize(
    "case", [c for c in CASES if c.id not in CLI_ONLY], ids=[i for i in IDS if i not in CLI_ONLY]
)
def test_api_raises_the_named_error(case, run_dir, tmp_path):
    _, call = case.build(tmp_path, run_dir)

    with pytest.raises(case.error) as info:
        call()

    message = str(info.value)
    assert "\n" not in message and message
    assert re.search(case.expect, message), message
    assert not (tmp_path / "out").exists() or case.id == "output-exists"
    assert not (tmp_path / "PWNED").exists(), "a pickle was unpickled"


# ---------------------------------------------------------------------------------------------
# The same through real subprocesses (the entry point, import-time failures included)
# ---------------------------------------------------------------------------------------------

SUBPROCESS_CASES = ["data-binary", "run-truncated-weights", "cli-bad-option-value"]


@pytest.mark.parametrize("case_id", SUBPROCESS_CASES)
def test_subprocess_one_line_error(case_id, run_dir, tmp_path):
    case = next(c for c in CASES if c.id == case_id)
    args, _ = case.build(tmp_path, run_dir)
    result = run_cli_subprocess(*args)

    assert_one_line_error(result.returncode, result.stderr, case.expect)
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.partial").exists()


# ---------------------------------------------------------------------------------------------
# A full disk while the run directory is written (simulated)
# ---------------------------------------------------------------------------------------------


def _disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize("where", ["publish", "final-weights", "checkpoint"])
def test_full_disk_on_save_is_one_line_and_publishes_nothing(where, monkeypatch, tmp_path):
    from transformers import PreTrainedModel

    from attentext import rundir

    save = PreTrainedModel.save_pretrained

    def save_until_full(model, folder, *args, **kwargs):
        target = Path(folder).name
        if (where == "final-weights" and target == "final") or (
            where == "checkpoint" and target == "checkpoint-2"
        ):
            _disk_full()
        return save(model, folder, *args, **kwargs)

    if where == "publish":
        monkeypatch.setattr(rundir, "publish", _disk_full)
    else:
        monkeypatch.setattr(PreTrainedModel, "save_pretrained", save_until_full)
    data = write_file(tmp_path, "d.csv", ROWS)
    out = tmp_path / "out"
    # 15 train rows, batch 8: checkpoints at steps 1 and 2
    args = ["train", "seed-transformer", "--data", data, "--output", out, "--max-steps", "2"]
    args += ["--batch-size", "8", "--set", "training.group_by_length=false"]

    code, _, stderr = run_cli(*args, "--precision", "fp32")

    line = assert_one_line_error(code, stderr, "could not write the run directory")
    assert "No space left on device" in line
    assert not out.exists()
    partial = out.with_name("out.partial")
    assert not (partial / "final").exists(), "a half-written final/ was left"
    if where == "checkpoint":  # the only checkpoint is half-written: nothing to resume from
        assert last_complete_checkpoint(partial) is None and line.endswith("run it again")
    else:
        assert last_complete_checkpoint(partial) is not None and line.endswith("--resume")
    with pytest.raises(RunDirError, match="unfinished run"):
        attentext.load(out)


# ---------------------------------------------------------------------------------------------
# Inputs that look bad but are valid: accepted, never a crash
# ---------------------------------------------------------------------------------------------

CONTROL = "tab\there, bell\x07, escape \x1b[31mred\x1b[0m, form feed\x0c, nul-free"
ONE_MB = "word " * 200_000


def test_control_characters_and_a_1mb_text_train_and_predict(tmp_path):
    rows = SENTIMENT_ROWS * 3 + [(CONTROL, "pos"), (ONE_MB.strip(), "neg")]
    body = "text,label\n" + "".join(f'"{t}",{label}\n' for t, label in rows)
    data = write_file(tmp_path, "d.csv", body)

    result = attentext.train(
        "seed-transformer", data, tmp_path / "out", max_steps=1, precision="fp32"
    )

    classifier = attentext.load(result.run_dir, precision="fp32")
    assert len(classifier.predict([CONTROL, ONE_MB, "", "\x00\x01"])) == 4


def test_predict_cli_accepts_control_characters_and_a_1mb_input_file(run_dir, tmp_path):
    texts = write_file(tmp_path, "t.txt", f"{CONTROL}\n{ONE_MB}\n")

    code, stdout, stderr = run_cli("predict", run_dir, "--input", texts, "--json")

    assert code == 0, stderr
    records = [json.loads(line) for line in stdout.splitlines()]
    assert [r["text"] for r in records] == [CONTROL, ONE_MB]


# ---------------------------------------------------------------------------------------------
# HTTP: bad request bodies (what test_serving.py does not already cover) and bad run dirs
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def http(run_dir):
    from attentext.serving import create_app

    with TestClient(create_app([run_dir], max_chars=10_000)) as client:
        yield client


HTTP_CASES = {
    # id: (raw body, headers, status, error type or None for a 200)
    "http-nan-text": (b'{"texts": [NaN]}', {}, 400, "invalid_json"),  # NaN is no JSON (R10-H5)
    "http-null-text": (b'{"texts": [null]}', {}, 422, "invalid_request"),
    "http-latin1-body": ('{"texts": ["café"]}'.encode("latin-1"), {}, 400, None),
    "http-binary-body": (bytes(range(256)), {}, 400, None),
    "http-1mb-text": (json.dumps({"texts": [ONE_MB]}).encode(), {}, 413, "body_too_large"),
    "http-empty-text": (b'{"texts": [""]}', {}, 200, None),
    "http-control-chars": (json.dumps({"texts": [CONTROL]}).encode(), {}, 200, None),
}


@pytest.mark.parametrize("case_id", list(HTTP_CASES))
def test_http_bad_bodies(case_id, http):
    body, headers, status, type_ = HTTP_CASES[case_id]

    response = http.post(
        "/v1/predict", content=body, headers={"Content-Type": "application/json", **headers}
    )

    assert response.status_code == status, response.text
    assert "Traceback" not in response.text
    if status == 200:
        assert len(response.json()["predictions"]) == 1
    else:
        error = response.json()["error"]
        assert error["message"] and "\n" not in error["message"]
        if type_:
            assert error["type"] == type_


@pytest.mark.parametrize(
    "case_id", ["run-truncated-weights", "run-format-version-99", "run-pickle-weights"]
)
def test_http_server_refuses_a_bad_run_dir_before_starting(case_id, run_dir, tmp_path):
    from attentext.serving import create_app

    case = next(c for c in CASES if c.id == case_id)
    case.build(tmp_path, run_dir)

    with pytest.raises(case.error, match=case.expect):
        create_app([tmp_path / "run"])


def test_http_server_refuses_damaged_metrics(run_dir, tmp_path):
    from attentext.serving import create_app

    copy = shutil.copytree(run_dir, tmp_path / "run")
    (copy / "metrics.json").write_text("{", encoding="utf-8")

    with pytest.raises(RunDirError, match="metrics.json: unreadable metrics"):
        create_app([copy])


# ---------------------------------------------------------------------------------------------
# Safe loading: safetensors only, no pickle, no remote code
# ---------------------------------------------------------------------------------------------


def test_a_pickle_beside_the_weights_is_never_unpickled(run_dir, tmp_path):
    copy = shutil.copytree(run_dir, tmp_path / "run")
    (copy / "pytorch_model.bin").write_bytes(pickle.dumps(Evil(tmp_path / "PWNED")))
    (copy / "training_args.bin").write_bytes(pickle.dumps(Evil(tmp_path / "PWNED")))

    attentext.load(copy, precision="fp32").predict(["some text"])

    assert not (tmp_path / "PWNED").exists()


def test_remote_code_named_in_config_is_never_run(run_dir, tmp_path):
    copy = shutil.copytree(run_dir, tmp_path / "run")
    config = json.loads((copy / "config.json").read_text(encoding="utf-8"))
    config["auto_map"] = {
        "AutoConfig": "evil.EvilConfig",
        "AutoModelForSequenceClassification": "evil.EvilModel",
        "AutoTokenizer": ["evil.EvilTokenizer", None],
    }
    (copy / "config.json").write_text(json.dumps(config), encoding="utf-8")
    (copy / "evil.py").write_text(f"open({str(tmp_path / 'PWNED')!r}, 'w')\n", encoding="utf-8")

    with contextlib.suppress(RunDirError):  # refusing is fine too; running evil.py is not
        attentext.load(copy, precision="fp32")

    assert not (tmp_path / "PWNED").exists()


UNSAFE = {
    "torch.load without weights_only=True": re.compile(r"torch\.load\((?![^)]*weights_only=True)"),
    "pickle.load(s)": re.compile(r"\bc?pickle\.loads?\("),
    "joblib.load": re.compile(r"\bjoblib\.load\("),
    "trust_remote_code=True": re.compile(r"trust_remote_code\s*=\s*True"),
    "weights_only=False": re.compile(r"weights_only\s*=\s*False"),
}


def test_source_has_no_unsafe_loading():
    found = []
    for path in sorted((REPO / "src").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        for what, pattern in UNSAFE.items():
            for match in pattern.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                found.append(f"{path.relative_to(REPO)}:{line}: {what}")

    assert not found, "\n".join(found)
