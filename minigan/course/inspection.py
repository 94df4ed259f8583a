"""inspection: what the grader reads from a test's code without running it.

For each test function of a test file: whether it calls backward (``.backward()``,
``minigan.grad``, ``gradcheck``), whether it takes second derivatives (``gradgradcheck``,
``create_graph=True``), and whether it needs PyTorch (``pytest.importorskip("torch")``). Calls
are followed into the file's own module-level functions and into ``tests/helpers.py``, so that
``_conv_and_grads(...)`` counts as the backward it runs. This decides a test's part (forward
tests are the ones that never call backward) and keeps the PyTorch comparisons out of grading,
so that the same tests grade a task whether or not PyTorch is installed.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from .markers import parse

BACKWARD_CALLS = {"backward", "grad", "gradcheck", "gradgradcheck"}
SECOND_ORDER_CALLS = {"gradgradcheck"}


@dataclass(frozen=True)
class TestCode:
    calls_backward: bool = False
    second_order: bool = False
    needs_torch: bool = False


def read_tests(path: Path, helpers: Path = None) -> dict:
    """``{function name: TestCode}`` for the ``test_*`` functions of one test file."""
    definitions = _definitions(path)
    if helpers is not None and helpers.is_file() and helpers != path:
        definitions = {**_definitions(helpers), **definitions}
    direct = {name: _direct(node) for name, node in definitions.items()}
    found = {}
    for name in definitions:
        if name.startswith("test_"):
            flags = _closure(name, definitions, direct)
            found[name] = TestCode(*flags)
    return found


def _definitions(path: Path) -> dict:
    """Module-level functions and assignments (their value expressions), by name."""
    tree = parse(path.read_text(encoding="utf-8"), str(path))
    found = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found[node.name] = node
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    found[target.id] = node.value
    return found


def _direct(node) -> tuple:
    """(calls backward, second order, needs torch, names it refers to) from the node itself."""
    backward = second = torch = False
    names = set()
    for child in ast.walk(node):
        if isinstance(child, ast.Call):
            called = child.func.attr if isinstance(child.func, ast.Attribute) else getattr(child.func, "id", "")
            backward |= called in BACKWARD_CALLS
            second |= called in SECOND_ORDER_CALLS
            second |= any(k.arg == "create_graph" and not (isinstance(k.value, ast.Constant) and not k.value.value)
                          for k in child.keywords)
            if called == "importorskip" and child.args and isinstance(child.args[0], ast.Constant):
                torch |= child.args[0].value == "torch"
        elif isinstance(child, (ast.Import, ast.ImportFrom)):
            modules = [a.name for a in child.names] if isinstance(child, ast.Import) else [child.module or ""]
            torch |= any(m.split(".")[0] == "torch" for m in modules)
        elif isinstance(child, ast.Name):
            names.add(child.id)
    return backward, second, torch, names


def _closure(name: str, definitions: dict, direct: dict) -> tuple:
    seen, stack = set(), [name]
    backward = second = torch = False
    while stack:
        current = stack.pop()
        if current in seen or current not in direct:
            continue
        seen.add(current)
        b, s, t, names = direct[current]
        backward, second, torch = backward or b, second or s, torch or t
        stack.extend(names & definitions.keys())
    return backward, second, torch
