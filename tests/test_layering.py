"""The package's layers import downwards only (docs/DESIGN.md, "The layers, as folders"):
house-check finds import circles, this finds an import that points up without closing one
(e.g. api/presets.py importing cli.layerspec, found in review: the parser lives in api/)."""

from __future__ import annotations

import ast
import pathlib

import pytest

import anynet

ROOT = pathlib.Path(anynet.__file__).parent
BASE = {"anynet", "anynet.errors", "anynet.arguments"}  # the package's version, errors, argument checks
FILES = {"anynet.io.files", "anynet.io.writing"}  # file primitives, below the loop and the data readers
# what each folder may import from anynet besides itself and BASE (prefixes)
ALLOWED = {
    "xp": set(),
    "model": {"anynet.xp"},
    "distributed": {"anynet.xp", "anynet.model"},
    "datasets": {"anynet.xp", *FILES},
    "train": {"anynet.xp", "anynet.model", "anynet.distributed", "anynet.datasets", *FILES},
    "io": {"anynet.xp", "anynet.model", "anynet.train", "anynet.datasets"},
    "api": {"anynet.xp", "anynet.model", "anynet.distributed", "anynet.datasets", "anynet.train", "anynet.io"},
}


def imports(path: pathlib.Path):
    """(line, module) for every anynet import of ``path``, function-level ones included."""
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    package = parts[:-1]  # a module's package, or an __init__'s own: what "." means there
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = ".".join(package[: len(package) - node.level + 1]) if node.level else ""
            target = ".".join(filter(None, [base, node.module])) if node.level else node.module
            if node.module is None:  # from .. import x: x may be a module
                yield from ((node.lineno, f"{target}.{a.name}") for a in node.names)
            else:
                yield node.lineno, target
        elif isinstance(node, ast.Import):
            yield from ((node.lineno, a.name) for a in node.names)


def upward(folder: str) -> list[str]:
    allowed = ALLOWED[folder] | {f"anynet.{folder}"}
    found = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        for line, module in imports(path):
            if not module.startswith("anynet") or module in BASE or module == "anynet.__version__":
                continue
            if not any(module == a or module.startswith(a + ".") for a in allowed):
                found.append(f"{path.relative_to(ROOT.parent)}:{line} imports {module}")
    return found


@pytest.mark.parametrize("folder", sorted(ALLOWED))
def test_no_import_points_up(folder):
    assert upward(folder) == []


def test_the_check_sees_an_upward_import(tmp_path, monkeypatch):
    """The parser resolves relative imports (a planted api -> cli import is found)."""
    fake = tmp_path / "anynet"
    (fake / "api").mkdir(parents=True)
    (fake / "api" / "x.py").write_text("def f():\n    from ..cli.layerspec import parse\n")
    monkeypatch.setattr(f"{__name__}.ROOT", fake)
    assert upward("api") == ["anynet/api/x.py:2 imports anynet.cli.layerspec"]
