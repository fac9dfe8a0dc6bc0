"""The package's shape, checked statically: dependency direction, module size, cheap imports.

COURSE_DESIGN.md, "Boundaries": the compute modules import neither ipywidgets nor IPython; the
widget panels live in ``helpers/widgets/`` and import the compute modules; the command line
imports compute modules only. "Style we admire": one topic per file, no 3,500-line module.
The import checks read the sources with ``ast`` (nothing is imported), so they also see imports
inside functions and ``importlib.import_module("...")`` calls.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path
from typing import Iterable

REPO = Path(__file__).resolve().parents[1]
HELPERS = REPO / "helpers"
WIDGETS = HELPERS / "widgets"
MAX_LINES = 400
UI_MODULES = ("ipywidgets", "IPython")
HEAVY_MODULES = ("torch", "transformers", "ipywidgets", "matplotlib")


# ---------------------------------------------------------------------------------------------
# The checker
# ---------------------------------------------------------------------------------------------


def module_name(path: Path, root: Path) -> str:
    """``root/helpers/data/quality/__init__.py`` -> ``helpers.data.quality``."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _absolute(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module an ``ImportFrom`` names, relative imports resolved."""
    if not node.level:
        return node.module or ""
    parts = module.split(".")
    if not is_package:
        parts = parts[:-1]
    if node.level > 1:
        parts = parts[: len(parts) - (node.level - 1)]
    return ".".join(parts + ([node.module] if node.module else []))


def _string_arg(call: ast.Call) -> str | None:
    if call.args and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str):
        return call.args[0].value
    return None


def imported_modules(path: Path, root: Path) -> Iterable[tuple[int, str]]:
    """(line, absolute module) for every import in a file, top level or inside functions.

    Counts ``import a.b``, ``from a import b`` (as ``a`` and ``a.b``: ``b`` may be a module),
    relative imports, ``importlib.import_module("a.b")``, ``import_module("a.b")``,
    ``__import__("a.b")`` and ``"a.b:function"`` strings (the CLI's dispatch table form).
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    module = module_name(path, root)
    is_package = path.name == "__init__.py"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(module, is_package, node)
            yield node.lineno, base
            for alias in node.names:
                if alias.name != "*":
                    yield node.lineno, f"{base}.{alias.name}" if base else alias.name
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
            target = _string_arg(node)
            if name in ("import_module", "__import__") and target is not None:
                yield node.lineno, target
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
            mod, sep, func_name = text.partition(":")
            if sep and func_name.isidentifier() and all(p.isidentifier() for p in mod.split(".")):
                yield node.lineno, mod


def _matches(module: str, forbidden: Iterable[str]) -> bool:
    return any(module == f or module.startswith(f + ".") for f in forbidden)


def forbidden_imports(files: Iterable[Path], forbidden: Iterable[str], root: Path) -> list[str]:
    """``path:line: imports module`` for each line importing a forbidden module (or a sub-module)."""
    forbidden = tuple(forbidden)
    out = []
    for path in sorted(files):
        lines: dict[int, str] = {}
        for line, mod in imported_modules(path, root):
            if _matches(mod, forbidden):
                lines.setdefault(line, mod)
        out += [f"{path.relative_to(root)}:{line}: imports {mod}" for line, mod in sorted(lines.items())]
    return out


def python_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def compute_files(helpers: Path = HELPERS) -> list[Path]:
    """Every module under helpers/ outside helpers/widgets/ (``__main__`` and ``course`` included)."""
    widgets = helpers / "widgets"
    return [p for p in python_files(helpers) if widgets not in p.parents]


# ---------------------------------------------------------------------------------------------
# 1a. compute modules import no UI code
# ---------------------------------------------------------------------------------------------


def test_compute_modules_import_no_ui_code() -> None:
    files = compute_files()
    assert len(files) > 20 and HELPERS / "__main__.py" in files
    offenders = forbidden_imports(files, UI_MODULES, REPO)
    assert not offenders, ("only helpers/widgets/ may import ipywidgets or IPython; move the display code "
                           "into a panel there:\n" + "\n".join(offenders))


def test_the_checker_finds_a_hidden_ui_import(tmp_path: Path) -> None:
    pkg = tmp_path / "helpers"
    (pkg / "widgets").mkdir(parents=True)
    (pkg / "stage").mkdir()
    (pkg / "__init__.py").write_text("", encoding="utf-8")
    (pkg / "widgets" / "panel.py").write_text("import ipywidgets as w\n", encoding="utf-8")
    (pkg / "stage" / "__init__.py").write_text("", encoding="utf-8")
    (pkg / "stage" / "clean.py").write_text(
        '"""Mentions ipywidgets and IPython.display in prose only."""\n'
        "import json\nfrom helpers.stage import other\nfrom .other import f\n"
        "NAME = 'ipywidgets'\n", encoding="utf-8")
    (pkg / "stage" / "other.py").write_text("def f():\n    return 1\n", encoding="utf-8")
    (pkg / "stage" / "bad.py").write_text(
        "import json\n"
        "\n"
        "def show(x):\n"
        "    from IPython.display import display\n"
        "    display(x)\n"
        "\n"
        "def panel():\n"
        "    import importlib\n"
        "    return importlib.import_module('ipywidgets').VBox()\n"
        "\n"
        "class K:\n"
        "    def m(self):\n"
        "        import IPython.display\n", encoding="utf-8")
    files = compute_files(pkg)
    assert pkg / "widgets" / "panel.py" not in files
    assert forbidden_imports(files, UI_MODULES, tmp_path) == [
        "helpers/stage/bad.py:4: imports IPython.display",
        "helpers/stage/bad.py:9: imports ipywidgets",
        "helpers/stage/bad.py:13: imports IPython.display",
    ]
    assert forbidden_imports([pkg / "stage" / "clean.py", pkg / "stage" / "other.py"], UI_MODULES, tmp_path) == []
    # relative imports are resolved before matching, and CLI-style "module:function" strings count
    (pkg / "stage" / "cli.py").write_text(
        "from .. import widgets\nfrom ..widgets.panel import x\nT = {'a': ('helpers.widgets.panel:run', 'help')}\n",
        encoding="utf-8")
    assert forbidden_imports([pkg / "stage" / "cli.py"], ["helpers.widgets"], tmp_path) == [
        "helpers/stage/cli.py:1: imports helpers.widgets",
        "helpers/stage/cli.py:2: imports helpers.widgets.panel",
        "helpers/stage/cli.py:3: imports helpers.widgets.panel",
    ]


# ---------------------------------------------------------------------------------------------
# 1b. dependency direction: compute modules and the CLI never import the widget panels
# ---------------------------------------------------------------------------------------------


def test_compute_modules_and_cli_do_not_import_widgets() -> None:
    offenders = forbidden_imports(compute_files(), ["helpers.widgets"], REPO)
    assert not offenders, ("helpers/widgets/ imports the compute modules, never the other way round "
                           "(and the CLI imports compute modules only):\n" + "\n".join(offenders))


def test_cli_dispatch_targets_are_compute_modules() -> None:
    """The CLI resolves "module:function" strings at run time; every one exists and is not a widget."""
    targets = [mod for _, mod in imported_modules(HELPERS / "__main__.py", REPO) if mod.startswith("helpers.")]
    assert targets, "expected the CLI's module:function dispatch table"
    for mod in targets:
        assert not _matches(mod, ["helpers.widgets"]), mod


# ---------------------------------------------------------------------------------------------
# 1c. errors is a leaf module
# ---------------------------------------------------------------------------------------------


def test_errors_imports_nothing_from_helpers() -> None:
    path = HELPERS / "core" / "errors.py"
    offenders = forbidden_imports([path], ["helpers"], REPO)
    assert not offenders, "helpers/core/errors.py must stay a leaf (everything imports it):\n" + "\n".join(offenders)


# ---------------------------------------------------------------------------------------------
# 1d. one topic per file
# ---------------------------------------------------------------------------------------------


def oversized_modules(folder: Path = HELPERS, limit: int = MAX_LINES) -> list[tuple[str, int]]:
    out = []
    for path in python_files(folder):
        with path.open("rb") as fh:
            n = sum(1 for _ in fh)
        if n > limit:
            out.append((str(path.relative_to(folder.parent)), n))
    return sorted(out, key=lambda x: -x[1])


def test_no_module_is_longer_than_400_lines() -> None:
    big = oversized_modules()
    assert not big, (f"split these modules by topic (at most {MAX_LINES} lines each):\n"
                     + "\n".join(f"{p}: {n} lines" for p, n in big))


# ---------------------------------------------------------------------------------------------
# 1e. importing helpers is cheap: heavy libraries load inside the functions that need them
# ---------------------------------------------------------------------------------------------

_PROBE = r"""
import importlib, json, sys
heavy = {heavy!r}
culprits = {{}}
errors = {{}}
for name in {modules!r}:
    before = {{h for h in heavy if h in sys.modules}}
    try:
        importlib.import_module(name)
    except Exception as exc:
        errors[name] = f"{{type(exc).__name__}}: {{exc}}"
        continue
    new = sorted(h for h in heavy if h in sys.modules and h not in before)
    if new:
        culprits[name] = new
print(json.dumps({{"culprits": culprits, "errors": errors,
                   "loaded": sorted(h for h in heavy if h in sys.modules)}}))
"""


def importable_modules() -> list[str]:
    """Every module under helpers/ except the widget panels (and files outside a package)."""
    names = []
    for path in compute_files():
        if not (path.parent / "__init__.py").exists():
            continue  # e.g. the evaluate metric script, loaded by path with evaluate.load
        names.append(module_name(path, REPO))
    return names


def test_importing_every_compute_module_is_cheap() -> None:
    modules = importable_modules()
    assert "helpers.core.config" in modules and "helpers.__main__" in modules
    code = _PROBE.format(heavy=HEAVY_MODULES, modules=modules)
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not result["errors"], f"modules that fail to import: {result['errors']}"
    assert not result["loaded"], (
        f"importing helpers loaded {result['loaded']}; import them inside the functions that need them. "
        f"First module to load each: {result['culprits']}")
