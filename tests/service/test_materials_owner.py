"""One writer of material versions: only service/operations/materials.py changes them."""

from __future__ import annotations

import ast
from pathlib import Path

import kmscli

OWNER = Path(kmscli.__file__).parent / "service" / "operations" / "materials.py"
#: Record members that hold material versions or name the current one.
MEMBERS = {"Materials", "CurrentKeyMaterialId", "Wrapped"}
MUTATORS = {"setdefault", "pop", "append", "update", "extend", "insert", "remove", "clear"}
#: Names of response dicts built from a record (DescribeKey's KeyMetadata), which are not records.
RESPONSES = {"meta", "out"}


def _writes(tree: ast.AST) -> list[int]:
    """Lines that assign, delete or mutate one of MEMBERS through a subscript or method call."""
    lines = []
    for node in ast.walk(tree):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        elif isinstance(node, ast.Delete):
            targets = node.targets
        for target in targets:
            if (
                isinstance(target, ast.Subscript)
                and not (isinstance(target.value, ast.Name) and target.value.id in RESPONSES)
                and isinstance(target.slice, ast.Constant)
                and target.slice.value in MEMBERS
            ):
                lines.append(node.lineno)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            func = node.func
            if (
                func.attr in {"setdefault", "pop"}
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and node.args[0].value in MEMBERS
            ):
                lines.append(node.lineno)
            inner = func.value
            if (
                func.attr in MUTATORS
                and isinstance(inner, ast.Subscript)
                and isinstance(inner.slice, ast.Constant)
                and inner.slice.value in MEMBERS
            ):
                lines.append(node.lineno)
    return lines


def test_only_materials_module_writes_material_versions() -> None:
    offenders = []
    for path in sorted(Path(kmscli.__file__).parent.rglob("*.py")):
        if path == OWNER:
            continue
        for line in _writes(ast.parse(path.read_text(), str(path))):
            offenders.append(f"{path.relative_to(OWNER.parents[3])}:{line}")
    assert offenders == []


def test_the_check_sees_writes() -> None:
    sample = ast.parse(
        'r["Materials"] = []\nr.setdefault("Materials", []).append(e)\nr["Materials"].append(e)\n'
        'e.pop("Wrapped", None)\nr["CurrentKeyMaterialId"] = m\n'
    )
    assert sorted(set(_writes(sample))) == [1, 2, 3, 4, 5]
    assert _writes(ast.parse('meta["CurrentKeyMaterialId"] = m\n')) == []
    assert _writes(ast.parse(OWNER.read_text()))  # the owner does write
