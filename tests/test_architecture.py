"""The layout keeps its promises: imports run one way (no cycles), attentext modules are imported
at the top of a module except where a heavy dependency is deferred on purpose, functions stay
short enough to read, `import attentext` and `attentext --help` stay light."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "attentext"
MAX_FUNCTION_LINES = 60

# Function-level imports of attentext modules, each deferring something heavy on purpose.
DEFERRED_IMPORTS = {
    # `attentext --help` answers at once: each command imports its work when it runs
    **{
        f"attentext.cli.{name}": "a command imports what it needs only when it runs"
        for name in (
            "card",
            "compare",
            "distill",
            "ensemble",
            "evaluate",
            "explain",
            "export",
            "predict",
            "recalibrate",
            "serve",
            "summary",
            "train",
            "tune",
            "auto",
        )
    },
    # loading one engine never imports the other (torch models vs ONNX Runtime)
    "attentext.inference.classifier": "each backend is imported only when asked for",
    # registration waits until transformers is imported, so `import attentext` stays light
    "attentext.auto_classes": "registers the Auto classes when transformers loads",
}
# Functions longer than MAX_FUNCTION_LINES (from `def` to the last line, the docstring excluded).
_TYPER = "Typer declares each option, with its help, in the signature: it is the command's manual"
LONG_FUNCTIONS: dict[str, str] = {
    "attentext.cli.export.export_command": _TYPER,
    "attentext.cli.serve.serve_command": _TYPER,
    "attentext.cli.train.train_command": _TYPER,
}


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(SRC).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _imported(node: ast.AST, module: str, is_package: bool) -> list[str]:
    """attentext modules named by an import statement (relative imports resolved)."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
            parent = module.split(".")[
                : len(module.split(".")) - node.level + (1 if is_package else 0)
            ]
            base = ".".join([*parent, base] if base else parent)
        names = [base] + [f"{base}.{alias.name}" for alias in node.names]
    else:
        return []
    return [n for n in names if n == "attentext" or n.startswith("attentext.")]


def _graph() -> tuple[dict[str, set[str]], dict[str, list[tuple[str, int]]]]:
    """Module -> the attentext modules it imports at import time (top level, not under
    TYPE_CHECKING); and module -> the function-level imports of attentext modules."""
    modules = _modules()
    edges: dict[str, set[str]] = {name: set() for name in modules}
    deferred: dict[str, list[tuple[str, int]]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        is_package = path.name == "__init__.py"
        for node in tree.body:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            for child in [node] if isinstance(node, ast.Import | ast.ImportFrom) else []:
                edges[name].update(t for t in _imported(child, name, is_package) if t in modules)
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for child in ast.walk(function):
                for target in _imported(child, name, is_package):
                    deferred.setdefault(name, []).append((target, child.lineno))
    return edges, deferred


def _cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(edges.get(node, ())):
            if state.get(target) == 1:
                return stack[stack.index(target) :] + [target]
            if target not in state and (found := visit(target)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_import_graph_has_no_cycle():
    edges, _ = _graph()
    # a package's __init__ importing its own submodules is how packages re-export; the edge
    # from a submodule to its parent package is implied by Python, not a dependency
    for name in edges:
        edges[name] = {t for t in edges[name] if not name.startswith(t + ".")}
    assert _cycle(edges) is None, " -> ".join(_cycle(edges) or [])


def test_attentext_modules_are_imported_at_the_top_except_where_deferred_on_purpose():
    _, deferred = _graph()
    unexpected = {
        f"{module}:{line} imports {target}"
        for module, imports in deferred.items()
        if module not in DEFERRED_IMPORTS
        for target, line in imports
    }
    assert not unexpected, sorted(unexpected)


def _long_functions() -> dict[str, int]:
    found = {}
    for name, path in _modules().items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            lines = node.end_lineno - node.lineno + 1
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                lines -= first.end_lineno - first.lineno + 1  # the docstring
            if lines > MAX_FUNCTION_LINES:
                found[f"{name}.{node.name}"] = lines
    return found


def test_no_function_is_longer_than_60_lines_except_the_named_ones():
    long = _long_functions()
    unexplained = {name: lines for name, lines in long.items() if name not in LONG_FUNCTIONS}
    assert not unexplained, unexplained
    stale = set(LONG_FUNCTIONS) - set(long)
    assert not stale, f"no longer long, remove from LONG_FUNCTIONS: {sorted(stale)}"


HEAVY = ("torch", "transformers", "sklearn", "datasets", "matplotlib", "onnxruntime", "fastapi")


@pytest.mark.parametrize(
    "code",
    [
        "import attentext",
        "import attentext; attentext.__version__; dir(attentext)",
        "from attentext.cli import app",
    ],
)
def test_importing_attentext_loads_no_heavy_library(code):
    probe = f"import sys; {code}; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "", f"{code} imported {result.stdout.strip()}"


def _heavy_libraries_loaded_by(*argv: str) -> subprocess.CompletedProcess:
    """`attentext ARGV` in a fresh interpreter; its stdout ends `loaded: <heavy modules>`."""
    probe = (
        "import sys\n"
        "from attentext.cli import main\n"
        f"sys.argv = ['attentext', *{list(argv)!r}]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        f"print('loaded:', ','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    return subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )


def test_help_loads_no_heavy_library():
    result = _heavy_libraries_loaded_by("--help")
    assert "Usage" in result.stdout
    assert result.stdout.strip().endswith("loaded:"), result.stdout[-200:]


@pytest.mark.parametrize(
    "args",
    [
        ["train", "no-such-recipe", "--data", "d.csv", "--output", "out"],
        ["train", "seed-transformer", "--data", "d.csv", "--output", "out", "--set", "a.b=1"],
    ],
)
def test_a_mistyped_recipe_is_answered_before_the_heavy_libraries_load(args):
    result = _heavy_libraries_loaded_by(*args)
    assert result.stderr.startswith("error: "), result.stderr
    assert result.stdout.strip().endswith("loaded:"), result.stdout[-200:]


def test_attentext_names_its_public_api_and_loads_each_on_first_use():
    import attentext

    for name in attentext.__all__:
        assert getattr(attentext, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        attentext.nothing_here  # noqa: B018
