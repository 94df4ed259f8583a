"""The import mapping of issue #15, applied mechanically: PyTorch and torchvision import
statements become the same statements on minigan's modules, binding the same names; every
other line of a script stays as it was.

| PyTorch / torchvision    | minigan                  |
| ------------------------ | ------------------------ |
| torch (and torch.X)      | minigan (minigan.X)      |
| torch.nn.functional      | minigan.functional       |
| torch.utils.data         | minigan.utils.data       |
| torchvision.datasets     | minigan.data.datasets    |
| torchvision.transforms   | minigan.data.transforms  |
| torchvision.utils        | minigan.utils            |

``import torch`` binds the name ``torch``, so it becomes ``import minigan as torch``; ``import
torch.nn.parallel`` (which binds ``torch`` too) becomes ``import minigan.nn.parallel, minigan as
torch``. An import of a PyTorch module outside the table (``import torchvision``) raises.
"""
import ast

MAPPING = {  # the most specific first
    "torch.nn.functional": "minigan.functional",
    "torch.utils.data": "minigan.utils.data",
    "torchvision.datasets": "minigan.data.datasets",
    "torchvision.transforms": "minigan.data.transforms",
    "torchvision.utils": "minigan.utils",
    "torch": "minigan",
}
ROOTS = ("torch", "torchvision")


def mapped(module: str, only=ROOTS, mapping=MAPPING):
    """The minigan module for ``module`` (by its longest mapped prefix), or None if it is not
    a PyTorch module (or not one of the roots in ``only``)."""
    if module.split(".")[0] not in only:
        return None
    for prefix, target in mapping.items():
        if module == prefix or module.startswith(prefix + "."):
            return target + module[len(prefix):]
    raise ValueError(f"{module} is outside the mapping of issue #15")


def _bound(name: str, bound: str) -> str:
    """``name``, or ``name as bound`` when the statement must bind another name."""
    return name if name == bound else f"{name} as {bound}"


def _rewrite_import(node: ast.Import, only, mapping) -> str:
    parts = []
    for alias in node.names:
        target = mapped(alias.name, only, mapping)
        if target is None:
            parts.append(_bound(alias.name, alias.asname or alias.name))
        elif alias.asname is not None:
            parts.append(f"{target} as {alias.asname}")
        elif "." not in alias.name:  # import torch: the name torch, bound to minigan
            parts.append(f"{target} as {alias.name}")
        else:  # import torch.nn.parallel: the submodule imported, and the name torch bound
            root = alias.name.split(".")[0]
            parts += [target, f"{mapped(root, only, mapping)} as {root}"]
    return "import " + ", ".join(parts)


def _rewrite_from(node: ast.ImportFrom, only, mapping) -> str:
    groups = {}  # minigan module -> the names imported from it
    for alias in node.names:
        bound = alias.asname or alias.name
        full = f"{node.module}.{alias.name}"
        if full in mapping:  # from torchvision import datasets: a module with a mapping of its own
            parent, name = mapping[full].rsplit(".", 1)
            groups.setdefault(parent, []).append(_bound(name, bound))
        else:
            groups.setdefault(mapped(node.module, only, mapping), []).append(_bound(alias.name, bound))
    return "; ".join(f"from {module} import {', '.join(names)}" for module, names in groups.items())


def to_minigan(source: str, only=ROOTS, mapping=MAPPING) -> str:
    """``source`` with its import statements of the modules in ``only`` (PyTorch's and
    torchvision's) rewritten onto minigan's (by ``mapping``); nothing else changes."""
    lines = source.splitlines(keepends=True)
    edits = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import) and any(a.name.split(".")[0] in only for a in node.names):
            edits.append((node, _rewrite_import(node, only, mapping)))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in only:
            edits.append((node, _rewrite_from(node, only, mapping)))
    for node, text in sorted(edits, key=lambda e: -e[0].lineno):
        first, last = node.lineno - 1, node.end_lineno - 1
        indent = lines[first][:len(lines[first]) - len(lines[first].lstrip())]
        lines[first:last + 1] = [indent + text + "\n"]
    return "".join(lines)
