"""screen: refuse student code that reaches for the machinery around it instead of computing.

An op's forward and backward, an optimizer's update or a loss needs arrays, Tensors, minigan's
functions and a little arithmetic. It never needs to import ``os`` or ``pytest``, to read a
frame's globals, to call ``eval`` or ``setattr``, or to rebind a module's or a class's attribute.
Those are the tools of a submission that would rather change the tests, the test runner or the
report than pass them, so the grader refuses a task whose code uses any of them, before running
it, naming the line (an instructor can still grade it with ``--no-screen``).

This is a screen, not a sandbox: Python cannot be made safe by reading it, and a determined
submission may find a way around these rules. The grader's other defences (the student's code
is only the task's regions, spliced into a reference copy; results travel over an authenticated
channel; the test machinery is fingerprinted) do not rely on it.
"""
from __future__ import annotations

import ast

ALLOWED_IMPORTS = {"numpy", "math", "cmath", "cupy", "minigan", "functools", "itertools", "operator",
                   "collections", "typing", "numbers", "dataclasses", "warnings"}
FORBIDDEN_NAMES = {"eval", "exec", "compile", "open", "__import__", "globals", "locals", "vars", "breakpoint",
                   "input", "exit", "quit", "setattr", "delattr", "memoryview", "help", "__builtins__",
                   "__loader__", "__spec__"}
ALLOWED_DUNDERS = {"__init__", "__name__"}
FRAME_ATTRIBUTES = {"f_globals", "f_locals", "f_back", "f_builtins", "f_code", "f_trace", "gi_frame", "gi_code",
                    "cr_frame", "cr_code", "ag_frame", "ag_code", "tb_frame", "tb_next", "func_globals", "co_code"}
MODULE_ATTRIBUTES = {"os", "sys", "subprocess", "gc", "inspect", "builtins", "ctypes", "signal", "importlib",
                     "threading", "multiprocessing", "shutil", "socket", "pickle", "marshal", "types", "pytest",
                     "_pytest", "pluggy", "hypothesis", "io", "pathlib", "tempfile", "atexit", "faulthandler",
                     "resource", "platform", "runpy", "code", "codecs", "weakref", "traceback", "testing",
                     "modules", "environ", "system", "popen", "fork", "kill", "_exit"}


class Refused(ValueError):
    """Student code that uses something a solution never needs (the message names the line)."""


def screen(tree: ast.AST, lines: set) -> list:
    """The reasons to refuse the code on ``lines`` (line numbers of ``tree``'s source), as
    ``(line, reason)`` pairs in line order. An empty list: nothing found."""
    findings = set()
    scopes = _function_scopes(tree)
    for node in ast.walk(tree):
        line = getattr(node, "lineno", None)
        if line is None or line not in lines:
            continue
        reason = _check(node, scopes.get(id(node)))
        if reason:
            findings.add((line, reason))
    return sorted(findings)


def _check(node, scope) -> str:
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return _check_import(node)
    if isinstance(node, ast.Name) and (node.id in FORBIDDEN_NAMES or _is_dunder(node.id)):
        return f"uses {node.id}"
    if isinstance(node, ast.Attribute):
        name = node.attr
        if _is_dunder(name) and name not in ALLOWED_DUNDERS:
            return f"reads the attribute {name}"
        if name in FRAME_ATTRIBUTES or name in MODULE_ATTRIBUTES:
            return f"reads the attribute .{name}"
    if isinstance(node, (ast.Global, ast.Nonlocal)):
        return f"declares {type(node).__name__.lower()} {', '.join(node.names)}"
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr":
        if len(node.args) < 2 or not isinstance(node.args[1], ast.Constant) or not isinstance(node.args[1].value, str):
            return "calls getattr with a computed name"
        name = node.args[1].value
        if name.startswith("_") or name in FRAME_ATTRIBUTES or name in MODULE_ATTRIBUTES:
            return f"calls getattr(..., {name!r})"
    if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
        targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
        for target in targets:
            reason = _check_target(target, scope)
            if reason:
                return reason
    return ""


def _check_import(node) -> str:
    if isinstance(node, ast.ImportFrom) and node.level:  # from .. import backend: the package's own
        modules = [node.module or ""]
    else:
        modules = [node.module] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
        for module in modules:
            if module.split(".")[0] not in ALLOWED_IMPORTS:
                return f"imports {module} (a solution needs {', '.join(sorted(ALLOWED_IMPORTS - {'cmath'}))} at most)"
    names = [a.name for a in node.names] if isinstance(node, ast.ImportFrom) else []
    for part in [p for m in modules for p in m.split(".") if p] + names:
        if part.startswith("_") or part in MODULE_ATTRIBUTES:
            return f"imports {part}"
    return ""


def _check_target(target, scope) -> str:
    """Assigning to ``x.attr`` or ``x[i]`` is fine when x is the function's own (a parameter or
    a local it made), not a module, a class or a global it reached."""
    if isinstance(target, (ast.Tuple, ast.List)):
        return next((r for r in (_check_target(t, scope) for t in target.elts) if r), "")
    if isinstance(target, ast.Starred):
        return _check_target(target.value, scope)
    if not isinstance(target, (ast.Attribute, ast.Subscript)):
        return ""
    root = _root(target)
    owned, reached = scope if scope else (set(), set())
    # an item of an array or a dict the function got hold of may be written; an attribute of
    # something reached from outside (a module: xp = backend.array_module(x)) may not
    if root is None or root not in owned or (root in reached and isinstance(target, ast.Attribute)):
        what = ast.unparse(target)
        return f"assigns to {what}, which belongs to {'a module, a class or a global' if root else 'something else'}"
    return ""


def _root(node):
    """The name an attribute/subscript/call chain starts from (``a`` in ``a.b[0].c()``), else None."""
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _function_scopes(tree) -> dict:
    """For every node inside a function: (the names the function owns, the owned names that were
    bound to something reached from outside: an import or a chain from a global)."""
    scopes = {}
    for function in [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))]:
        args = function.args
        owned = {a.arg for a in args.posonlyargs + args.args + args.kwonlyargs}
        owned |= {a.arg for a in (args.vararg, args.kwarg) if a is not None}
        reached = set()
        body = function.body if isinstance(function.body, list) else [function.body]
        for statement in body:
            for node in ast.walk(statement):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    bound = {(a.asname or a.name).split(".")[0] for a in node.names}
                    owned |= bound
                    reached |= bound
                elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.NamedExpr, ast.For,
                                       ast.comprehension, ast.withitem)):
                    _bind(node, owned, reached)
        for statement in body:
            for node in ast.walk(statement):
                scopes[id(node)] = (owned, reached)
    return scopes


def _bind(node, owned, reached):
    if isinstance(node, ast.Assign):
        pairs = [(t, node.value) for t in node.targets]
    elif isinstance(node, ast.withitem):
        pairs = [(node.optional_vars, node.context_expr)] if node.optional_vars is not None else []
    elif isinstance(node, (ast.For, ast.comprehension)):
        pairs = [(node.target, None)]
    else:
        pairs = [(node.target, getattr(node, "value", None))]
    for target, value in pairs:
        values = value.elts if isinstance(value, (ast.Tuple, ast.List)) and isinstance(target, (ast.Tuple, ast.List)) \
            else None
        targets = target.elts if values is not None and len(values) == len(target.elts) else [target]
        for i, t in enumerate(targets):
            v = values[i] if values is not None and len(targets) == len(values) else value
            for name in _bound_names(t):
                owned.add(name)
                root = _root(v) if v is not None else None
                if root is not None and root not in owned and isinstance(v, (ast.Attribute, ast.Name, ast.Call)):
                    reached.add(name)  # something from outside: m = np.testing, xp = backend.array_module(x)


def _bound_names(target) -> list:
    """The names an assignment target binds (not ``x`` in ``x.attr = ...`` or ``x[i] = ...``)."""
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)):
        return [n for t in target.elts for n in _bound_names(t)]
    if isinstance(target, ast.Starred):
        return _bound_names(target.value)
    return []


def _is_dunder(name: str) -> bool:
    return name.startswith("__") and name.endswith("__") and len(name) > 4
