"""Hostile inputs, round 6: what attentext renders for people from strings a user controls (label
names, texts, run folder names, recipe values). Each test failed before its fix:

R6-H1  A label or a path holding rich markup (`[/bold]`) was a `MarkupError` traceback after
       training had published the run (`train`, `evaluate`, `compare`, `tune`, `distill`: the
       per-class table and the lines around it); a label `[red]x[/red]` printed as `x`, a run
       folder `[red]run` as `run` in compare's table.
       The commands' consoles read no markup (`cli.common.TerminalConsole`); their own bold is
       styled text: test_h1_labels_and_run_folders_of_rich_markup_print_as_written
R6-H2  Control characters in labels and texts went to the terminal as they were: a label
       holding `\\x1b[2J` cleared the screen (table, explain's lines, error messages), one holding a
       line break printed as two rows of the per-class table (the second one empty), a right-to-
       left override reversed the rest of its row, and an error listing the known labels was two
       lines. Every string is shown escaped (`\\x1b`, `\\n`, `\\u202e`: `rendering.printable`, in
       the consoles, `cli.common.cell` and `errors.short_list`):
       test_h2_control_characters_in_labels_and_texts_are_shown_escaped,
       test_h2_an_error_listing_a_label_with_a_line_break_is_one_line
R6-H3  The Markdown attentext writes (the model card README.md, `evaluate --output`'s report.md,
       a multi-label run's report.md, compare's leaderboard.md) put labels, run folder and data
       names and recipe values in as they were: a label `a|b` split its report.md row into two
       cells, `<script>`/`<img src=x onerror=...>` labels and a run folder named so were raw HTML
       in the card's tables and heading (a script in any renderer that keeps HTML; an empty cell
       where HTML is stripped), `$x^2$` rendered as math, a label with a backtick broke its code
       span, the card's list of labels showed `a\\|b` for `a|b`, and a recipe description holding
       ``` ended the card's recipe.yaml block (the rest of the recipe rendered as Markdown). Each
       string goes through one escaping (`rendering.markdown_text`, `markdown_code`,
       `markdown_fence`, `python_string`): test_h3_markdown_reports_show_labels_and_names_as_written
R6-H4  Figures read labels and run folder names as mathtext: a label `$\\frac{$` made
       `evaluate --output` a ParseException traceback after metrics.json was written (report.md
       and the PNGs missing), as did a run folder named so in `compare`'s plots and a label in a
       multi-label run's per-label chart; `$x^2$` was drawn as x². A 10,000-character label was
       drawn whole across the confusion matrix ("constrained_layout not applied", 8 s). Every
       string a figure shows goes through `rendering.figure_text` (one line, at most 40
       characters, start and end kept, `$` escaped), explain's PNGs too:
       test_h4_figures_draw_labels_and_run_names_as_written
R6-H5  A label holding a right-to-left override (U+202E) reversed what followed it on the same
       line of a page: explain's HTML heading read "Text 0: (071.0) exe.live" for a probability of
       0.170, the try-it page at `/` "Predicted label %0.71 exe.live". Labels (and model names)
       on both pages show their invisible and control characters escaped, as the terminal does
       (`rendering.printable` in `interpret/render.py`; `visible` in `static/app.js`):
       test_h5_a_bidi_override_in_a_label_is_shown_escaped_in_explains_html,
       test_h5_the_try_it_page_shows_a_bidi_override_in_a_label_escaped (node, skipped without)
R6-H6  A 10,000-character label widened both pages to ~110,000 pixels: on the try-it page every
       class's bar and probability (the short labels' too) sat off-screen to the right; explain's
       HTML filled a screen with the label in its heading and pushed the probability bars out of
       view. Long names are now cut with an ellipsis, whole in their tooltip (`static/app.css`,
       `interpret/render.py`: `rendering.shortened` in the heading):
       test_h6_a_very_long_label_keeps_both_pages_to_the_window_width (headless Chromium,
       skipped without)
R6-H7  Characters the figures' font has no glyph for (Chinese labels with matplotlib's DejaVu
       Sans; a bidi override) were drawn as empty boxes, every such label alike in the confusion
       matrix, with a two-line `UserWarning: Glyph 20307 ... missing` on stderr per character.
       They are now drawn as their escapes (`\\u4f53\\u80b2`, `figures.figure_text`, where the
       font lacks them; a font that has them, named in matplotlibrc, draws them):
       test_h7_characters_the_font_lacks_are_drawn_as_escapes_without_a_warning_each
R6-H8  `attentext explain` printed a 10,000-character label whole on its one line per text (a
       terminal screenful); labels and words on that line are now cut to 80 characters, start
       and end kept (`cli/explain.py`, `rendering.shortened`):
       test_h8_explains_line_per_text_cuts_a_very_long_label
"""

from __future__ import annotations

import csv
import html
import random
import re
import shutil
import warnings
from pathlib import Path

import pytest
from conftest import NODE_MISSING, run_cli_here, try_it_page
from fastapi.testclient import TestClient
from markdown_it import MarkdownIt

import attentext
from attentext.evaluation.multilabel_report import plot_per_label_f1
from attentext.serving import create_app

WORDS = [
    ["stocks", "shares", "investors", "bonds"],
    ["match", "goal", "coach", "league"],
    ["telescope", "physics", "lab", "genome"],
    ["rain", "storm", "sunny", "cloud"],
    ["film", "actor", "scene", "drama"],
    ["code", "python", "bug", "compile"],
    ["bread", "oven", "flour", "butter"],
]
MARKUP_LABELS = ["[/bold]", "[red]x[/red]", "plain", "a|b", "<b>c</b>"]
CONTROL_LABELS = ["red\x1b[2J", "line1\nline2", "\u202eevil.exe", "ok", "zero\u200bwidth"]


def _write_data(folder: Path, labels: list[str], seed: int = 0) -> Path:
    """train.csv and test.csv of texts about one topic each, labelled `labels[topic]`."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    for split, n in (("train", 100), ("test", 30)):
        with open(folder / f"{split}.csv", "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["text", "label"])
            for i in range(n):
                k = i % len(labels)
                words = " ".join(rng.choice(WORDS[k]) for _ in range(6))
                writer.writerow([f"{words} <i>x</i> \x1b[31m", labels[k]])
    return folder


def _baseline(tmp_path_factory, labels: list[str], name: str) -> tuple[Path, Path]:
    data = _write_data(tmp_path_factory.mktemp("r6-data"), labels)
    out = tmp_path_factory.mktemp("r6-runs") / name
    attentext.train("tfidf-logreg", data, out)
    return data, out


@pytest.fixture(scope="module")
def markup_run(tmp_path_factory) -> tuple[Path, Path]:
    """A TF-IDF run whose labels and folder name are rich markup."""
    return _baseline(tmp_path_factory, MARKUP_LABELS, "[red]run")


@pytest.fixture(scope="module")
def control_run(tmp_path_factory) -> tuple[Path, Path]:
    """A TF-IDF run whose labels hold an ANSI escape, a line break, a bidi override."""
    return _baseline(tmp_path_factory, CONTROL_LABELS, "controls")


def test_h1_labels_and_run_folders_of_rich_markup_print_as_written(markup_run, tmp_path):
    data, run = markup_run
    done = run_cli_here("evaluate", run, "--data", data, "-o", tmp_path / "report")
    assert done.returncode == 0, done.stderr[-600:]
    for label in MARKUP_LABELS:
        assert label in done.stdout
    assert f"{run} on {data}" in done.stdout
    compared = run_cli_here("compare", run, "--data", data, "-o", tmp_path / "board")
    assert compared.returncode == 0, compared.stderr[-600:]
    assert "[red]run" in compared.stdout


def test_h2_control_characters_in_labels_and_texts_are_shown_escaped(control_run, tmp_path):
    data, run = control_run
    done = run_cli_here("evaluate", run, "--data", data)
    assert done.returncode == 0, done.stderr[-600:]
    for raw, shown in (
        ("red\x1b[2J", "red\\x1b[2J"),
        ("line1\nline2", "line1\\nline2"),
        ("\u202eevil.exe", "\\u202eevil.exe"),
        ("zero\u200bwidth", "zero\\u200bwidth"),
    ):
        assert raw not in done.stdout
        assert shown in done.stdout
    # every row of the table is a class: no row without its numbers
    rows = [line for line in done.stdout.splitlines() if line.startswith("│")]
    assert len(rows) == len(CONTROL_LABELS) and all("1.000" in r or "0." in r for r in rows)
    explained = run_cli_here(
        "explain", run, "stocks \x1b[2J shares", "-o", tmp_path / "why", "-f", "html"
    )
    assert explained.returncode == 0, explained.stderr[-600:]
    assert "\x1b" not in explained.stdout


def test_h2_predict_prints_one_line_per_text_whatever_its_labels_and_text_hold(control_run):
    """`predict` printed a label or text holding a line break over two lines, the second
    looking like another prediction (left by the audit in cli/predict.py, mended after)."""
    _, run = control_run
    texts = ["stocks rose\nand shares fell", "telescope \x1b[2J physics"]
    done = run_cli_here("predict", run, *texts, "--top-k", str(len(CONTROL_LABELS)))
    assert done.returncode == 0, done.stderr[-600:]
    lines = done.stdout.splitlines()
    assert len(lines) == len(texts), done.stdout
    assert "line1\\nline2" in lines[0] and "stocks rose\\nand shares fell" in lines[0]
    assert "\x1b" not in done.stdout


def test_h2_an_error_listing_a_label_with_a_line_break_is_one_line(
    control_run, markup_run, tmp_path
):
    data, run = control_run
    done = run_cli_here("compare", run, markup_run[1], "--data", data, "-o", tmp_path / "board")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1, done.stderr
    assert "line1\\nline2" in done.stderr and "\x1b" not in done.stderr


MARKDOWN_LABELS = [
    "a|b",
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "$x^2$",
    "back`tick",
    "[c](javascript:alert(1))",
]
FENCE_RECIPE = """name: hostile
description: "ends ```\\n<script>alert(2)</script> `code` *not bold*"
model:
  type: tfidf-logreg
"""


@pytest.fixture(scope="module")
def markdown_run(tmp_path_factory) -> tuple[Path, Path]:
    """A TF-IDF run of Markdown-breaking labels, in a folder named as HTML, from a recipe whose
    description holds a code fence."""
    data = _write_data(tmp_path_factory.mktemp("r6-md-data"), MARKDOWN_LABELS + ["plain"])
    recipe = tmp_path_factory.mktemp("r6-recipe") / "hostile.yaml"
    recipe.write_text(FENCE_RECIPE, encoding="utf-8")
    out = tmp_path_factory.mktemp("r6-md") / "<img src=x onerror=alert(3)>"
    attentext.train(str(recipe), data, out)
    return data, out


def _rendered(markdown: str) -> str:
    """Markdown as GitHub renders it (CommonMark, tables, raw HTML kept), front matter left out."""
    body = markdown.split("\n---\n", 1)[1] if markdown.startswith("---\n") else markdown
    return MarkdownIt("commonmark", {"html": True}).enable("table").render(body)


def _first_cells(rendered: str) -> list[str]:
    """The first cell of every table body row, as the reader sees it (HTML unescaped)."""
    rows = re.findall(r"<tr>\s*<td>(.*?)</td>", rendered, re.S)
    return [html.unescape(cell) for cell in rows]


def test_h3_markdown_reports_show_labels_and_names_as_written(markdown_run, tmp_path):
    data, run = markdown_run
    labels = MARKDOWN_LABELS + ["plain"]
    card = _rendered((run / "README.md").read_text(encoding="utf-8"))
    attentext.evaluate(run, data, output=tmp_path / "report")
    report = _rendered((tmp_path / "report" / "report.md").read_text(encoding="utf-8"))
    attentext.compare([run], data, output=tmp_path / "board")
    board = _rendered((tmp_path / "board" / "leaderboard.md").read_text(encoding="utf-8"))
    for page in (card, report, board):
        assert not re.search(r"<script|<img src=x|<a href", page), page  # no tag of a label's
    assert "<h1>&lt;img src=x onerror=alert(3)&gt;" in card
    assert "<h1>&lt;img src=x onerror=alert(3)&gt; on " in report
    assert _first_cells(board)[0] == run.name
    for cells in (_first_cells(report), _first_cells(card)):
        assert set(labels) <= set(cells), cells  # one cell each, as written
    listed = re.search(r"<p>A text classifier.*?</p>", card, re.S).group(0)
    assert [html.unescape(c) for c in re.findall(r"<code>(.*?)</code>", listed)][1:] == sorted(
        labels
    )
    # the recipe's description is one paragraph as written, and the whole recipe one block
    assert "ends ``` &lt;script&gt;alert(2)&lt;/script&gt; <code>code</code> *not bold*" in card
    block = re.search(r'<pre><code class="language-yaml">(.*?)</code></pre>', card, re.S)
    assert "type: tfidf-logreg" in block.group(1) and "training:" in block.group(1)


MATH_LABELS = ["$\\frac{$", "$x^2$", "L" * 10_000 + "a", "L" * 10_000 + "b"]


@pytest.fixture(scope="module")
def math_run(tmp_path_factory) -> tuple[Path, Path]:
    """A TF-IDF run of labels matplotlib reads as mathtext or cannot fit, in a folder named so."""
    data = _write_data(tmp_path_factory.mktemp("r6-math-data"), MATH_LABELS)
    out = tmp_path_factory.mktemp("r6-math") / "$\\frac{$ run"
    attentext.train("tfidf-logreg", data, out)
    return data, out


def test_h4_figures_draw_labels_and_run_names_as_written(math_run, tmp_path):
    data, run = math_run
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        attentext.evaluate(run, data, output=tmp_path / "report")
        attentext.compare([run], data, output=tmp_path / "board")
        plot_per_label_f1(
            {name: {"f1": 0.5, "support": 3} for name in MATH_LABELS}, tmp_path / "f1.png"
        )
    for written in ("report/report.md", "report/confusion_matrix.png", "report/reliability.png"):
        assert (tmp_path / written).is_file(), written
    assert (tmp_path / "board" / "accuracy_vs_throughput.png").is_file()
    assert (tmp_path / "f1.png").is_file()
    squeezed = [w for w in caught if "constrained_layout not applied" in str(w.message)]
    assert not squeezed, squeezed[0].message


SCIENCE = "telescope physics lab genome telescope"  # the topic labelled "\u202eevil.exe"


def test_h5_a_bidi_override_in_a_label_is_shown_escaped_in_explains_html(control_run, tmp_path):
    _, run = control_run
    explained = attentext.explain(run, [SCIENCE], tmp_path / "why", fmt="html")
    assert explained[0].label == "\u202eevil.exe"
    page = (tmp_path / "why" / "explanation.html").read_text(encoding="utf-8")
    assert "\u202e" not in page and "\x1b" not in page.split("<body>")[1].split('class="text"')[0]
    heading = re.search(r"<h2>Text 0: (.*?)</h2>", page).group(1)
    assert re.search(r">\\u202eevil\.exe \(\d\.\d{3}\)</span>", heading), heading
    assert ">\\u202eevil.exe</div>" in page and ">red\\x1b[2J</div>" in page


@pytest.mark.skipif(NODE_MISSING, reason="needs node to run the page's script")
def test_h5_the_try_it_page_shows_a_bidi_override_in_a_label_escaped(control_run):
    _, run = control_run
    with TestClient(create_app([run])) as client:
        shown = try_it_page(client, SCIENCE)
    assert shown["error"] == ""
    assert shown["label"] == "\\u202eevil.exe"
    assert "\\u202eevil.exe" in shown["bars"] and "line1\\nline2" in shown["bars"]
    assert not any("\u202e" in bar or "\x1b" in bar for bar in shown["bars"])


CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


@pytest.fixture
def browser():
    """Headless Chromium, 1000 pixels wide (skipped where it or selenium is not installed)."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip("needs chromium and chromedriver: apt-get install -y chromium chromium-driver")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1000,900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    yield driver
    driver.quit()


def _overflow(driver) -> int:
    """How many pixels the page is wider than the window."""
    return driver.execute_script(
        "const e = document.documentElement; return e.scrollWidth - e.clientWidth"
    )


def test_h6_a_very_long_label_keeps_both_pages_to_the_window_width(math_run, browser, tmp_path):
    from conftest import uvicorn_in_thread
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from attentext.serving.settings import ServerSettings

    _, run = math_run
    text = " ".join(WORDS[2] * 2)  # the topic labelled "L" * 10,000 + "a"
    explained = attentext.explain(run, [text], tmp_path / "why", fmt="html")
    assert explained[0].label == MATH_LABELS[2]
    browser.get((tmp_path / "why" / "explanation.html").as_uri())
    assert _overflow(browser) <= 0
    assert browser.find_element(By.TAG_NAME, "h2").size["height"] < 100
    with uvicorn_in_thread(create_app([run]), ServerSettings()) as port:
        browser.get(f"http://127.0.0.1:{port}/")
        wait = WebDriverWait(browser, 20)
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#model option"))
        browser.find_element(By.ID, "text").send_keys(text)
        browser.find_element(By.ID, "submit").click()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#probs .bar-value"))
        assert _overflow(browser) <= 0
        for value in browser.find_elements(By.CSS_SELECTOR, "#probs .bar-value"):
            assert value.rect["x"] + value.rect["width"] <= 1000, value.rect


def test_h7_characters_the_font_lacks_are_drawn_as_escapes_without_a_warning_each(
    tmp_path_factory, tmp_path
):
    data, run = _baseline(tmp_path_factory, ["体育", "经济", "科学", "\u202eevil"], "cjk")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        attentext.evaluate(run, data, output=tmp_path / "report")
    missing = [str(w.message) for w in caught if "missing from font" in str(w.message)]
    assert not missing, missing[:2]
    assert (tmp_path / "report" / "confusion_matrix.png").is_file()


def test_h8_explains_line_per_text_cuts_a_very_long_label(math_run, tmp_path):
    _, run = math_run
    text = " ".join(WORDS[2] * 2)  # the topic labelled "L" * 10,000 + "a"
    done = run_cli_here("explain", run, text, "-o", tmp_path / "why", "-f", "html")
    assert done.returncode == 0, done.stderr[-600:]
    line = next(line for line in done.stdout.splitlines() if line.startswith("[0] "))
    assert len(line) < 300 and "L…L" in line and re.search(r"La \d\.\d{3} ", line), line[:300]


def test_h3_a_recipe_description_keeps_its_code_spans_and_escapes_the_rest():
    """Escaped whole, the built-in recipes' descriptions showed their backticks in the card
    (`--shots N` as literal backquotes); their code spans stay code, the rest is escaped."""
    from attentext.rendering import markdown_prose

    shown = _rendered(markdown_prose("For 8 shots (`--shots N`), not <script>x</script> a|b"))
    assert "<code>--shots N</code>" in shown
    assert "<script>" not in shown and "&lt;script&gt;" in shown and "a|b" in shown
    assert "`" in _rendered(markdown_prose("an unmatched ` backtick"))


def test_h10_the_servers_start_line_escapes_folder_names(control_run, tmp_path, caplog):
    """`serving <names> (default <name>)` wrote a folder name holding a line break or an ANSI
    escape raw: two log lines, the second forged by the name; a cleared terminal."""
    _, run = control_run
    odd = tmp_path / "runs\nERROR forged\x1b[2J"
    shutil.copytree(run, odd)
    with caplog.at_level("INFO", logger="attentext.serving"), TestClient(create_app([odd])):
        pass
    (line,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("serving ")]
    assert "\n" not in line and "\x1b" not in line
    assert "runs\\nERROR forged\\x1b[2J" in line
