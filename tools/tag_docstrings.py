"""Generate the "introduced in" docstring tags from the notebooks, so they cannot drift (d2l's ``#@save``).

    python tools/tag_docstrings.py --check    # list every disagreeing tag, exit 1 if any
    python tools/tag_docstrings.py --write    # rewrite those tags in place, nothing else

Each public function or class in ``helpers/`` that a notebook imports names, in its docstring's
summary (the lines before the first blank line), the notebook that introduces it:
``(03_qlora_training)``, or the short form ``(03)``, which counts as the same tag. The *computed*
tag is the earliest notebook (by file name) whose code cells import or use the object directly:
``from helpers.x.y import a``, ``import helpers.x.y as z`` + ``z.a``, or
``from helpers.x import y`` (a module) + ``y.a``. Re-exports (``from .part import a`` in a
package ``__init__``) are followed to the module that defines the object. Everything is read
statically (``ast`` on the sources, JSON on the notebooks): nothing from ``helpers`` is imported.

A tag is the first parenthesised group in the summary that starts with a notebook number:
``(03)``, ``(03_qlora_training)``, ``(02, 03)``, ``(04 / make course)``; only its first notebook
reference is compared and, with ``--write``, replaced by the full ``NN_notebook_name`` (the rest
of the group stays). A missing tag is added at the end of the summary, before its final period.
Objects no notebook imports are not checked.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

ROOT = Path(__file__).resolve().parent.parent

#: ``(`` + two digits + optional ``_name`` + something that ends the reference.
TAG_RE = re.compile(r"\((\d{2})(_[A-Za-z0-9_]+)?(?=[)\s,;/-])")


@dataclass(frozen=True)
class Definition:
    """A top-level function or class in a helpers module."""

    module: str  # dotted, e.g. helpers.training.budget
    name: str
    path: Path
    lineno: int


@dataclass(frozen=True)
class Disagreement:
    """One public object whose docstring tag is not the computed one."""

    definition: Definition
    found: str | None  # the reference as written ("03", "03_qlora_training"), None when missing
    expected: str  # full notebook stem, e.g. "03_qlora_training"

    def describe(self, root: Path) -> str:
        d = self.definition
        try:
            where = d.path.relative_to(root)
        except ValueError:
            where = d.path
        found = f"tagged ({self.found})" if self.found else "no tag"
        return f"{where}:{d.lineno}: {d.name}: {found}, first used in ({self.expected})"


# ---------------------------------------------------------------------------------------------
# The helpers package, read statically
# ---------------------------------------------------------------------------------------------


class Package:
    """Module files of one package under ``root`` and the top-level definitions in them."""

    def __init__(self, root: Path, package: str = "helpers") -> None:
        self.root = Path(root)
        self.package = package
        self._trees: dict[str, ast.Module | None] = {}

    def module_path(self, module: str) -> Path | None:
        """The file of a dotted module name, or None when it is not a module of the package."""
        if module != self.package and not module.startswith(self.package + "."):
            return None
        base = self.root.joinpath(*module.split("."))
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.is_file():
                return candidate
        return None

    def is_package(self, module: str) -> bool:
        path = self.module_path(module)
        return path is not None and path.name == "__init__.py"

    def tree(self, module: str) -> ast.Module | None:
        if module not in self._trees:
            path = self.module_path(module)
            try:
                self._trees[module] = ast.parse(path.read_text(encoding="utf-8")) if path else None
            except SyntaxError:
                self._trees[module] = None
        return self._trees[module]

    def absolute(self, module: str, node: ast.ImportFrom) -> str:
        """The absolute module an ``ImportFrom`` in ``module`` names (relative imports resolved)."""
        if not node.level:
            return node.module or ""
        parts = module.split(".")
        if not self.is_package(module):
            parts = parts[:-1]
        parts = parts[: len(parts) - (node.level - 1)] if node.level > 1 else parts
        return ".".join(parts + ([node.module] if node.module else []))

    def resolve(self, module: str, name: str, _seen: frozenset[tuple[str, str]] = frozenset()) -> "Definition | str | None":
        """What ``name`` in ``module`` is: a :class:`Definition`, a module name (str), or None."""
        key = (module, name)
        if key in _seen:
            return None
        seen = _seen | {key}
        tree = self.tree(module)
        if tree is not None:
            for node in _top_level(tree.body):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
                    return Definition(module, name, self.module_path(module), node.lineno)  # type: ignore[arg-type]
            for node in _top_level(tree.body):
                if isinstance(node, ast.ImportFrom):
                    source = self.absolute(module, node)
                    for alias in node.names:
                        if alias.name == "*":
                            found = self.resolve(source, name, seen) if self.module_path(source) else None
                            if found is not None:
                                return found
                        elif (alias.asname or alias.name) == name:
                            if self.module_path(f"{source}.{alias.name}"):
                                return f"{source}.{alias.name}"
                            return self.resolve(source, alias.name, seen) if self.module_path(source) else None
        if self.module_path(f"{module}.{name}"):
            return f"{module}.{name}"
        return None

    def docstring_node(self, d: Definition) -> ast.Constant | None:
        tree = self.tree(d.module)
        for node in _top_level(tree.body if tree else []):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == d.name:
                first = node.body[0] if node.body else None
                if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                    return first.value
                return None
        return None


def _top_level(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Top-level statements, looking inside ``if``/``try`` blocks (guarded imports)."""
    for node in body:
        yield node
        if isinstance(node, ast.If):
            yield from _top_level(node.body)
            yield from _top_level(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody, *[h.body for h in node.handlers]):
                yield from _top_level(block)


# ---------------------------------------------------------------------------------------------
# Notebooks
# ---------------------------------------------------------------------------------------------


def notebook_cells(path: Path) -> Iterator[str]:
    """The source of each code cell, with IPython magics and shell lines blanked."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        src = cell.get("source", "")
        src = "".join(src) if isinstance(src, list) else src
        lines = []
        for line in src.splitlines():
            stripped = line.lstrip()
            lines.append(line[: len(line) - len(stripped)] + "pass" if stripped[:1] in ("%", "!") else line)
        yield "\n".join(lines)


def _dotted(node: ast.expr) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def used_definitions(pkg: Package, sources: Iterable[str]) -> set[Definition]:
    """Every helpers function/class that these code cells import or use as ``module.attr``."""
    found: set[Definition] = set()
    modules: dict[str, str] = {}  # local name -> helpers module it is bound to
    trees = []
    for src in sources:
        try:
            trees.append(ast.parse(src))
        except SyntaxError:
            continue
    for tree in trees:  # imports first: a name bound anywhere in the notebook counts
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and not node.level and pkg.module_path(node.module or ""):
                for alias in node.names:
                    target = pkg.resolve(node.module, alias.name) if alias.name != "*" else None
                    if isinstance(target, Definition):
                        found.add(target)
                    elif isinstance(target, str):
                        modules[alias.asname or alias.name] = target
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if not pkg.module_path(alias.name):
                        continue
                    if alias.asname:
                        modules[alias.asname] = alias.name
                    else:  # ``import helpers.x.y`` binds ``helpers``; uses spell the full path
                        modules[alias.name.split(".")[0]] = alias.name.split(".")[0]
    for tree in trees:
        for node in ast.walk(tree):
            if not isinstance(node, ast.Attribute):
                continue
            dotted = _dotted(node.value)
            if dotted is None:
                continue
            head, _, rest = dotted.partition(".")
            if head not in modules:
                continue
            module = modules[head] + (f".{rest}" if rest else "")
            if pkg.module_path(module):
                target = pkg.resolve(module, node.attr)
                if isinstance(target, Definition):
                    found.add(target)
    return found


def notebooks(notebooks_dir: Path) -> list[Path]:
    """The course notebooks in course order (their file names start with the number)."""
    return sorted(p for p in Path(notebooks_dir).glob("[0-9][0-9]_*.ipynb"))


def computed_tags(root: Path = ROOT, package: str = "helpers", notebooks_dir: Path | None = None) -> dict[Definition, str]:
    """{definition: stem of the earliest notebook that imports or uses it} for public objects."""
    pkg = Package(root, package)
    out: dict[Definition, str] = {}
    for nb in notebooks(notebooks_dir or Path(root) / "notebooks"):
        for d in used_definitions(pkg, notebook_cells(nb)):
            if not d.name.startswith("_"):
                out.setdefault(d, nb.stem)
    return out


# ---------------------------------------------------------------------------------------------
# Tags in docstrings
# ---------------------------------------------------------------------------------------------


def summary(docstring: str) -> str:
    """The docstring's first paragraph (the lines before the first blank line)."""
    lines = []
    for line in docstring.strip().splitlines():
        if not line.strip():
            break
        lines.append(line)
    return "\n".join(lines)


def tag_of(docstring: str | None) -> str | None:
    """The first notebook reference of the summary, as written ("03" or "03_qlora_training")."""
    if not docstring:
        return None
    m = TAG_RE.search(summary(docstring))
    return m.group(1) + (m.group(2) or "") if m else None


def normalise(tag: str | None, stems: Iterable[str]) -> str | None:
    """``03`` -> ``03_qlora_training`` when that notebook exists; a full stem stays as it is."""
    if tag is None or "_" in tag:
        return tag
    for stem in stems:
        if stem.startswith(tag + "_"):
            return stem
    return tag


def check(root: Path = ROOT, package: str = "helpers", notebooks_dir: Path | None = None) -> list[Disagreement]:
    """Every public object a notebook imports whose docstring tag is not the computed one."""
    pkg = Package(root, package)
    tags = computed_tags(root, package, notebooks_dir)
    stems = [p.stem for p in notebooks(notebooks_dir or Path(root) / "notebooks")]
    out = []
    for d, expected in tags.items():
        node = pkg.docstring_node(d)
        found = tag_of(node.value if node is not None else None)
        if normalise(found, stems) != expected:
            out.append(Disagreement(d, found, expected))
    return sorted(out, key=lambda x: (str(x.definition.path), x.definition.lineno))


def _line_offsets(data: bytes) -> list[int]:
    offsets, pos = [0], 0
    for line in data.splitlines(keepends=True):
        pos += len(line)
        offsets.append(pos)
    return offsets


def _fixed_docstring_source(raw: str, found: str | None, expected: str) -> str:
    """The docstring literal's source with its first tag reference replaced (or the tag added)."""
    quote = raw[:3] if raw[:3] in ('"""', "'''") else raw[:1]
    prefix_len = len(raw) - len(raw.lstrip("rRuUbBfF"))
    body_start = prefix_len + len(quote)
    body = raw[body_start: len(raw) - len(quote)]
    # the summary's extent inside the raw body: up to the first blank line
    lead = len(body) - len(body.lstrip())
    m = re.search(r"\n[ \t]*\n", body[lead:])
    end = lead + m.start() if m else len(body.rstrip())
    if found is not None:
        tm = TAG_RE.search(body, lead, end)
        if tm is not None:
            start = tm.start() + 1
            stop = start + len(tm.group(1)) + len(tm.group(2) or "")
            body = body[:start] + expected + body[stop:]
            return raw[:body_start] + body + raw[len(raw) - len(quote):]
    text = body[:end].rstrip()
    insert_at = len(text) - 1 if text.endswith(".") else len(text)
    body = body[:insert_at] + f" ({expected})" + body[insert_at:]
    return raw[:body_start] + body + raw[len(raw) - len(quote):]


def write(root: Path = ROOT, package: str = "helpers", notebooks_dir: Path | None = None) -> list[Disagreement]:
    """Rewrite the disagreeing tags in place (only the tag text); returns what was changed."""
    pkg = Package(root, package)
    problems = check(root, package, notebooks_dir)
    by_file: dict[Path, list[Disagreement]] = {}
    for p in problems:
        by_file.setdefault(p.definition.path, []).append(p)
    for path, items in by_file.items():
        data = path.read_bytes()
        offsets = _line_offsets(data)
        edits = []
        for item in items:
            node = pkg.docstring_node(item.definition)
            if node is None or node.end_lineno is None or node.end_col_offset is None:
                continue  # no docstring to put a tag in
            start = offsets[node.lineno - 1] + node.col_offset  # ast columns are UTF-8 byte offsets
            stop = offsets[node.end_lineno - 1] + node.end_col_offset
            raw = data[start:stop].decode("utf-8")
            edits.append((start, stop, _fixed_docstring_source(raw, item.found, item.expected).encode("utf-8")))
        for start, stop, new in sorted(edits, reverse=True):
            data = data[:start] + new + data[stop:]
        path.write_bytes(data)
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true", help="list disagreeing tags; exit 1 if any")
    mode.add_argument("--write", action="store_true", help="rewrite disagreeing tags in place")
    parser.add_argument("--root", type=Path, default=ROOT, help="the course folder (default: this repository)")
    parser.add_argument("--package", default="helpers")
    args = parser.parse_args(argv)
    if args.write:
        changed = write(args.root, args.package)
        for p in changed:
            print("fixed " + p.describe(args.root))
        return 0
    problems = check(args.root, args.package)
    for p in problems:
        print(p.describe(args.root))
    if problems:
        print(f"{len(problems)} docstring tag(s) disagree with the notebooks; fix with --write", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
