"""The dependency rule of DESIGN.md section 2, checked on the source's import statements.

Written as an AST check rather than import-linter contracts because the rules are prefix rules over
packages that do not all exist yet, plus a standard-library allow-list for the pure layers, which
import-linter's contracts do not express.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "investai"
OUTER = ("adapters", "api", "web", "services", "agents", "jobs", "bootstrap", "cli", "aws_lambda", "config")
PURE_THIRD_PARTY = {"pydantic", "pydantic_core", "numpy", "pandas", "scipy", "typing_extensions", "skfolio", "sklearn"}
AWS_SDKS = {"boto3", "botocore", "opensearchpy", "aioboto3", "s3transfer"}


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> Iterator[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module_name(path).rsplit(".", 0 if path.name == "__init__.py" else 1)[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                yield node.lineno, f"{base}.{node.module}" if node.module else base
            elif node.module:
                yield node.lineno, node.module


def sources(*subpackages: str) -> list[Path]:
    roots = [SRC / sub for sub in subpackages] if subpackages else [SRC]
    return sorted(p for root in roots if root.exists() for p in root.rglob("*.py"))


def _is_stdlib(name: str) -> bool:
    return name.split(".")[0] in sys.stdlib_module_names


@pytest.mark.parametrize("layer", ["domain", "analytics"])
def test_pure_layers_import_only_domain_stdlib_and_numeric_libraries(layer: str) -> None:
    offences = []
    for path in sources(layer):
        for line, name in imports_of(path):
            top = name.split(".")[0]
            if top == "investai":
                allowed = name.startswith(("investai.domain", f"investai.{layer}"))
            else:
                allowed = _is_stdlib(name) or top in PURE_THIRD_PARTY
            if not allowed:
                offences.append(f"{path.relative_to(SRC)}:{line} imports {name}")
    assert offences == []


@pytest.mark.parametrize("layer", ["services", "agents", "ports"])
def test_services_agents_and_ports_never_import_adapters_or_entry_points(layer: str) -> None:
    forbidden = tuple(f"investai.{name}" for name in OUTER if name != layer)
    offences = [
        f"{path.relative_to(SRC)}:{line} imports {name}"
        for path in sources(layer)
        for line, name in imports_of(path)
        if name.startswith(forbidden) and not name.startswith(f"investai.{layer}")
    ]
    assert offences == []


def test_only_aws_adapters_and_lambda_handlers_import_aws_sdks() -> None:
    allowed = (SRC / "adapters" / "aws", SRC / "aws_lambda")
    offences = [
        f"{path.relative_to(SRC)}:{line} imports {name}"
        for path in sources()
        if not any(path.is_relative_to(root) for root in allowed)
        for line, name in imports_of(path)
        if name.split(".")[0] in AWS_SDKS
    ]
    assert offences == []


def test_only_bootstrap_chooses_adapters() -> None:
    may_import_adapters = {"investai.bootstrap"}
    offences = [
        f"{path.relative_to(SRC)}:{line} imports {name}"
        for path in sources()
        if not path.is_relative_to(SRC / "adapters") and module_name(path) not in may_import_adapters
        for line, name in imports_of(path)
        if name.startswith("investai.adapters")
    ]
    assert offences == []


def test_the_checker_sees_violations(tmp_path: Path) -> None:
    """Guard against a checker that passes because it parses nothing."""
    assert len(sources("domain")) >= 5
    names = {name for path in sources("adapters") for _line, name in imports_of(path)}
    assert "investai.ports.object_store" in names
    assert "sqlite3" in names
