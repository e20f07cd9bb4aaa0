"""The house rules of the package (README "Layout"), checked from the source files: no module over 500 lines,
the Study facade short, every import (function-local ones too) on its own floor or below, no import circle,
and each command module importing exactly one use case."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "octprofile"
MAX_LINES = 500
MAX_FACADE_LINES = 60
# the lowest floor first; a module may import its own floor and those below (the longest prefix decides)
FLOORS = ["errors", "nn", "models", "convert", "build", "analysis", "runtime", "report", "studies.subject",
          "studies.variants", "studies", ("study", "results"), "cli", "__main__"]
HELPERS = ("subject", "variants")  # studies/ modules beneath the use cases


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found[".".join(parts).removesuffix(".__init__")] = path
    return found


MODULES = _modules()


def _floor(module: str) -> int | None:
    best = None
    for level, names in enumerate(FLOORS):
        for name in (names,) if isinstance(names, str) else names:
            prefix = f"octprofile.{name}"
            if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > best[0]):
                best = (len(prefix), level)
    return best[1] if best else None


def _imports(module: str) -> set[str]:
    """The package modules ``module`` imports anywhere in its body, except under ``if TYPE_CHECKING:``."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = set()

    def known(name: str) -> str | None:
        while name not in MODULES and "." in name:
            name = name.rsplit(".", 1)[0]
        return name if name in MODULES and name not in (module, "octprofile") else None

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            names = []
            if isinstance(child, ast.Import):
                names = [alias.name for alias in child.names]
            elif isinstance(child, ast.ImportFrom) and child.module:
                base = child.module
                if child.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - child.level + 1] + [base])
                names = [f"{base}.{alias.name}" for alias in child.names]
            found.update(filter(None, map(known, names)))
            visit(child)

    visit(ast.parse(path.read_text()))
    return found


GRAPH = {module: _imports(module) for module in MODULES}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_is_a_hub(module):
    assert len(MODULES[module].read_text().splitlines()) <= MAX_LINES


def test_the_study_facade_stays_one_line_per_use_case():
    tree = ast.parse(MODULES["octprofile.study"].read_text())
    study = next(node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == "Study")
    assert study.end_lineno - study.lineno + 1 <= MAX_FACADE_LINES
    assert all(isinstance(node, (ast.Assign, ast.Expr)) for node in study.body)  # assignments and the docstring


def test_every_import_runs_downhill():
    uphill = [f"{module} imports {target}" for module, targets in GRAPH.items() for target in targets
              if None not in (_floor(module), _floor(target)) and _floor(target) > _floor(module)]
    assert uphill == []


def test_no_import_circle():
    def on_a_circle(module: str) -> bool:
        seen, todo = set(), list(GRAPH[module])
        while todo:
            target = todo.pop()
            if target == module:
                return True
            if target not in seen:
                seen.add(target)
                todo += GRAPH[target]
        return False

    assert [module for module in GRAPH if on_a_circle(module)] == []


def test_each_command_imports_exactly_its_use_case():
    use_cases = {m for m in MODULES if m.startswith("octprofile.studies.") and m.rsplit(".", 1)[1] not in HELPERS}
    commands = {m: GRAPH[m] & use_cases for m in MODULES if m.startswith("octprofile.cli.commands.")}
    assert commands, "no command modules found"
    for command, imported in commands.items():
        assert len(imported) == (0 if command.endswith(".models") else 1), (command, imported)  # models: a registry
    users = sorted(use for imported in commands.values() for use in imported)
    assert users == sorted(use_cases)  # each use case has its one command
