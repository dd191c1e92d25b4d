"""The lazy operation table agrees with what the modules register; the policy engine always runs."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from kmscli import errors
from kmscli.service.pipeline import registry


def test_table_matches_registrations() -> None:
    ops = registry.load_all()
    assert set(ops) == set(registry.OPERATION_MODULES)
    for name, op in ops.items():
        assert op.func.__module__ == f"kmscli.service.operations.{registry.OPERATION_MODULES[name]}", name


def test_unknown_operation_is_unsupported(kms: Any) -> None:
    with pytest.raises(errors.UnsupportedOperationException):
        kms("NoSuchOperation")


def test_asymmetric_specs_load_on_demand(kms: Any) -> None:
    meta = kms("CreateKey", KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    assert meta["SigningAlgorithms"] == ["ECDSA_SHA_256"]


def test_policy_engine_decides_even_when_only_one_module_is_loaded(
    kms: Any, vault: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    key = kms("CreateKey")["KeyMetadata"]["KeyId"]
    deny = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "all",
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
                "Action": "kms:*",
                "Resource": "*",
            },
            {
                "Sid": "no-encrypt",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "kms:Encrypt",
                "Resource": "*",
            },
        ],
    }
    kms("PutKeyPolicy", KeyId=key, Policy=json.dumps(deny), PolicyName="default")
    for module in [m for m in sys.modules if m.startswith("kmscli.service.operations.")]:
        monkeypatch.delitem(sys.modules, module)  # as in a fresh process: no operation module loaded
    with pytest.raises(errors.AccessDeniedException):
        kms("Encrypt", KeyId=key, Plaintext=b"x")


def test_generators_cover_every_spec_kmscli_makes() -> None:
    from kmscli.crypto import asymmetric

    made = {"SYMMETRIC_DEFAULT", *asymmetric.ASYMMETRIC_SPECS, *asymmetric.HMAC_KEY_BYTES}
    assert set(registry.GENERATORS) == made
    for spec in made:
        assert callable(registry.generator(spec)), spec
    with pytest.raises(errors.UnsupportedOperationException, match="SM2"):
        registry.generator("SM2")


def test_due_work_table_names_real_handlers() -> None:
    from kmscli.vault.records import ScheduleEntry

    handlers = registry.due_handlers()
    assert set(handlers) == set(ScheduleEntry.__annotations__)
    for field, (module, name) in registry.DUE_WORK.items():
        assert handlers[field].__module__ == f"kmscli.service.operations.{module}"
        assert handlers[field].__name__ == name


def _imports(path: Path) -> set[str]:
    """The kmscli modules a module may import, at its top or inside its functions (not for typing)."""
    import ast

    out: set[str] = set()

    def walk(node: ast.AST) -> None:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            return
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.startswith("kmscli"):
                out.add(node.module)
                out.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names if alias.name.startswith("kmscli"))
        for child in ast.iter_child_nodes(node):
            walk(child)

    walk(ast.parse(path.read_text()))
    return out


def test_no_import_cycle() -> None:
    """kmscli's modules import each other without a cycle, so no table depends on import order.

    Operation modules are loaded by the registry through importlib (a name in a table, not an
    import), which is what keeps the pipeline from importing them.
    """
    import kmscli

    root = Path(kmscli.__file__).parent
    modules = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(root.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    graph = {name: _imports(path) & set(modules) for name, path in modules.items()}
    for name in modules:  # importing a.b.c imports a.b and a first
        graph[name] |= {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)} & set(modules)
        graph[name].discard(name)
    state: dict[str, int] = {}

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for dep in sorted(graph[name]):
            if state.get(dep) == 1:
                raise AssertionError(" -> ".join([*path[path.index(dep) :], dep]))
            if dep not in state:
                visit(dep, [*path, dep])
        state[name] = 2

    for name in sorted(modules):
        if name not in state:
            visit(name, [name])
