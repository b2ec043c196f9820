"""The dependency rule of docs/ARCHITECTURE.md section 2, checked on the source's import statements.

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
OUTER = (
    "adapters",
    "api",
    "web",
    "http",
    "server",
    "services",
    "agents",
    "jobs",
    "bootstrap",
    "cli",
    "aws_lambda",
    "config",
)
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
    offences = [
        f"{path.relative_to(SRC)}:{line} imports {name}"
        for path in sources()
        if not path.is_relative_to(SRC / "adapters") and not path.is_relative_to(SRC / "bootstrap")
        for line, name in imports_of(path)
        if name.startswith("investai.adapters")
    ]
    assert offences == []


def test_each_shape_builds_from_its_own_adapters() -> None:
    """The embedded shape never reaches for AWS adapters; the AWS shape imports them inside its builder only,
    so building the embedded shape never imports boto3."""
    embedded = [name for _, name in imports_of(SRC / "bootstrap" / "embedded.py")]
    assert not [name for name in embedded if name.startswith("investai.adapters.aws")]
    aws = SRC / "bootstrap" / "aws.py"
    tree = ast.parse(aws.read_text(encoding="utf-8"))
    top_level = [node for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)]
    assert not [node for node in top_level if (getattr(node, "module", "") or "").startswith("investai.adapters.aws")]


def test_the_container_names_no_adapter_type() -> None:
    """Entry points see services and ports: no field of the Container is typed with an adapter class."""
    import typing

    from investai.bootstrap.container import Container, Identity, Knowledge

    for holder in (Container, Identity, Knowledge):
        hints = typing.get_type_hints(holder)
        public = {name: hint for name, hint in hints.items() if not name.startswith("_")}
        adapters = {name: hint for name, hint in public.items() if "investai.adapters" in repr(hint)}
        assert adapters == {}, holder.__name__


@pytest.mark.parametrize(("entry_point", "sibling"), [("api", "web"), ("web", "api")])
def test_the_api_and_the_web_ui_never_import_each_other(entry_point: str, sibling: str) -> None:
    """Siblings over :mod:`investai.http`: only ``investai.server`` puts the two on one app."""
    offences = [
        f"{path.relative_to(SRC)}:{line} imports {name}"
        for path in sources(entry_point)
        for line, name in imports_of(path)
        if name == f"investai.{sibling}" or name.startswith((f"investai.{sibling}.", "investai.server"))
    ]
    assert offences == []


def test_the_shared_http_package_imports_neither_entry_point() -> None:
    offences = [
        f"{path.relative_to(SRC)}:{line} imports {name}"
        for path in sources("http")
        for line, name in imports_of(path)
        if name.split(".")[:2] in (["investai", "api"], ["investai", "web"], ["investai", "server"])
    ]
    assert offences == []


def test_the_checker_sees_violations(tmp_path: Path) -> None:
    """Guard against a checker that passes because it parses nothing."""
    assert len(sources("domain")) >= 5
    names = {name for path in sources("adapters") for _line, name in imports_of(path)}
    assert "investai.ports.object_store" in names
    assert "sqlite3" in names
    assert "investai.http.errors" in {name for path in sources("api", "web") for _line, name in imports_of(path)}
