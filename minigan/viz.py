"""Look at the graph behind a tensor: a text tree, Graphviz DOT text, or an SVG/PNG picture.

The graph is the one backprop walks (see minigan/autograd.py). A tensor that requires grad
is either a *leaf* (made by you: a parameter, an input) or the output of a
:class:`~minigan.autograd.Function`, its ``creator``. Each Function keeps ``parents``: for
each input, the input's creator, the leaf itself, or None for a constant (an input that
needs no gradient, so backprop never visits it). Drawing the graph is walking ``parents``
from the output back to the leaves, the same walk that ``backward`` makes.

- :func:`graph_text` / :func:`print_graph`: an indented tree, one line per op or leaf; a node
  used by several ops (a shared sub-graph) is printed once and referred to as ``[#k]`` after.
- :func:`to_dot`: the same graph as Graphviz DOT text (no dependencies).
- :func:`render`: runs Graphviz's ``dot`` program to write an ``.svg`` or ``.png`` file.

Every walk here is a loop with an explicit stack, so a graph 20,000 ops deep is fine.
"""
from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Mapping

from .autograd import Function
from .tensor import Tensor

DEFAULT_MAX_DEPTH = 40  # graph_text expands this many levels below the output, then "... (N more)"


class GraphvizNotFoundError(RuntimeError):
    """Raised by :func:`render` when Graphviz's ``dot`` program is not installed."""


# -- the graph ----------------------------------------------------------------------------------
def _root(t: Tensor):
    """The tensor's node: its creator, itself (a leaf), or None (not in any graph)."""
    if not isinstance(t, Tensor):
        raise TypeError(f"viz: expected a Tensor, got {type(t).__name__}")
    return t._node()


def _parents(node):
    return node.parents if isinstance(node, Function) else ()


def _use_counts(root) -> dict:
    """For each node below ``root``: how many op inputs it feeds (more than 1: shared)."""
    counts, seen, stack = {}, {id(root)}, [root]
    while stack:
        for parent in _parents(stack.pop()):
            if parent is None:
                continue
            counts[id(parent)] = counts.get(id(parent), 0) + 1
            if id(parent) not in seen:
                seen.add(id(parent))
                stack.append(parent)
    return counts


def _unshown_below(node, shown: set) -> int:
    """How many distinct nodes below ``node`` (reachable from it) are not printed yet."""
    seen, stack = set(), [node]
    while stack:
        for parent in _parents(stack.pop()):
            if parent is not None and id(parent) not in seen and id(parent) not in shown:
                seen.add(id(parent))
                stack.append(parent)
    return len(seen)


def _names(names) -> dict:
    """``{id(tensor): name}`` from a dict (either way round), (name, tensor) pairs, or a Module."""
    if names is None:
        return {}
    if hasattr(names, "named_parameters"):  # a Module
        names = names.named_parameters()
    pairs = names.items() if isinstance(names, Mapping) else names
    result = {}
    for pair in pairs:
        a, b = pair if isinstance(pair, tuple) and len(pair) == 2 else (pair, None)
        tensor, name = (a, b) if isinstance(a, Tensor) else (b, a)
        if not isinstance(tensor, Tensor) or not isinstance(name, str):
            raise TypeError("viz: names must map Tensors to str names (a dict, (name, tensor) pairs, "
                            f"or a Module), got {type(a).__name__} and {type(b).__name__}")
        result[id(tensor)] = name
    return result


def _shape_dtype(node) -> str:
    """``(4, 3) float32`` for a leaf Tensor or a recorded Function's output."""
    if isinstance(node, Tensor):
        return f"{node.shape} {node.dtype}"
    if node.out_shape is None:
        return "(shape unknown)"
    return f"{tuple(node.out_shape)} {node.out_dtype}"


def _op_label(node: Function) -> str:
    freed = " (freed by backward)" if node.released else ""
    return f"{type(node).__name__} {_shape_dtype(node)}{freed}"


def _leaf_label(leaf: Tensor, names: dict) -> str:
    name = names.get(id(leaf))
    kind = type(leaf).__name__  # Tensor or Parameter
    named = f" {name!r}" if name is not None else ""
    return f"{kind}{named} {_shape_dtype(leaf)} requires_grad={leaf.requires_grad}"


def _label(node, names: dict) -> str:
    return _op_label(node) if isinstance(node, Function) else _leaf_label(node, names)


def _short_name(node, names: dict) -> str:
    """The op's class name, or the leaf's name: how a repeated node is referred to."""
    if isinstance(node, Function):
        return type(node).__name__
    return repr(names[id(node)]) if id(node) in names else type(node).__name__


# -- text -----------------------------------------------------------------------------------------
def graph_text(t: Tensor, names=None, max_depth: int | None = DEFAULT_MAX_DEPTH) -> str:
    """The graph behind ``t`` as an indented text tree, output first, inputs below their op.

    Each op shows its Function's class name and its output's shape and dtype; each leaf its
    shape, dtype and ``requires_grad``; ``constant`` marks an input that needs no gradient.
    A node that feeds several ops is printed in full once, tagged ``[#k]``, and referred to as
    ``[#k]`` afterwards, so shared sub-graphs cost one line per use, never a copy.

    ``names`` labels leaves: ``{tensor: "name"}``, ``model.named_parameters()``, or a Module.
    ``max_depth``: how many levels below the output are printed (None: all of them); a node
    on the last level with more below it ends in ``... (N more nodes below)``.
    """
    if max_depth is not None and max_depth < 1:
        raise ValueError(f"graph_text: max_depth must be None or at least 1, got {max_depth}")
    root, names = _root(t), _names(names)
    if root is None:
        return f"{type(t).__name__} {t.shape} {t.dtype} requires_grad=False (not part of a graph)\n"
    counts = _use_counts(root)
    tags, shown = {}, {id(root)}
    lines = [_label(root, names)]
    stack = _children(root, "", 1)
    while stack:
        node, prefix, last, depth = stack.pop()
        branch = prefix + ("`-- " if last else "|-- ")
        if node is None:
            lines.append(branch + "constant")
        elif id(node) in shown:
            lines.append(f"{branch}{_short_name(node, names)} [#{tags[id(node)]}] (see above)")
        else:
            shown.add(id(node))
            line = branch + _label(node, names)
            if counts.get(id(node), 0) > 1:
                tags[id(node)] = len(tags) + 1
                line += f" [#{tags[id(node)]}]"
            hidden = _unshown_below(node, shown) if max_depth is not None and depth >= max_depth else 0
            if hidden:  # the depth limit: summarise what lies below instead of printing it
                lines.append(f"{line} ... ({hidden} more nodes below)")
                continue
            lines.append(line)
            stack.extend(_children(node, prefix + ("    " if last else "|   "), depth + 1))
    return "\n".join(lines) + "\n"


def _children(node, prefix: str, depth: int) -> list:
    """Stack entries for ``node``'s inputs, pushed so that the first input is printed first."""
    parents = _parents(node)
    return [(p, prefix, i == len(parents) - 1, depth) for i, p in enumerate(parents)][::-1]


def print_graph(t: Tensor, file=None, names=None, max_depth: int | None = DEFAULT_MAX_DEPTH) -> None:
    """Print :func:`graph_text` of ``t`` to ``file`` (default: standard output)."""
    print(graph_text(t, names, max_depth), end="", file=sys.stdout if file is None else file)


# -- Graphviz -------------------------------------------------------------------------------------
def _quote(text: str) -> str:
    """A DOT string literal (backslashes and quotes escaped, newlines as DOT's \\n)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _numbered(root) -> list:
    """Every node below ``root`` (and root), each once, in a fixed order: depth first, inputs in order."""
    order, seen, stack = [], {id(root)}, [root]
    while stack:
        node = stack.pop()
        order.append(node)
        for parent in reversed(_parents(node)):
            if parent is not None and id(parent) not in seen:
                seen.add(id(parent))
                stack.append(parent)
    return order


def to_dot(t: Tensor, names=None) -> str:
    """The graph behind ``t`` as Graphviz DOT text: boxes for ops, ellipses for leaves, grey
    text for constants, and an edge from each input to the op that uses it (numbered when
    the op has several inputs). Node ids (``n0`` = the output's op, ``n1``, ...) depend only on
    the graph's structure. Render it with :func:`render` or ``dot -Tsvg graph.dot``."""
    root, names = _root(t), _names(names)
    lines = ["digraph minigan {", '  node [fontname="Helvetica", fontsize=10];',
             '  edge [fontname="Helvetica", fontsize=9];']
    if root is None:  # not part of a graph: one node
        lines.append(f"  n0 [label={_quote(f'{t.shape} {t.dtype}')}, shape=ellipse];")
        return "\n".join(lines + ["}"]) + "\n"
    nodes = _numbered(root)
    ids = {id(node): f"n{i}" for i, node in enumerate(nodes)}
    edges, constants = [], 0
    for node in nodes:
        if isinstance(node, Function):
            text = f"{type(node).__name__}\n{_shape_dtype(node)}"
            style = 'shape=box, style="rounded,filled", fillcolor="#dde8f6"'
            if node is root:  # the output
                style += ", penwidth=2"
        else:
            name = names.get(id(node))
            text = (f"{name}\n" if name is not None else "") + _shape_dtype(node)
            style = 'shape=ellipse, style=filled, fillcolor="#f6ecd0"'
        lines.append(f"  {ids[id(node)]} [label={_quote(text)}, {style}];")
        parents = _parents(node)
        for i, parent in enumerate(parents):
            label = f" [label={_quote(str(i))}]" if len(parents) > 1 else ""
            if parent is None:
                source = f"c{constants}"
                constants += 1
                lines.append(f'  {source} [label="constant", shape=plaintext, fontcolor="#888888"];')
            else:
                source = ids[id(parent)]
            edges.append(f"  {source} -> {ids[id(node)]}{label};")
    return "\n".join(lines + edges + ["}"]) + "\n"


def render(t: Tensor, path, names=None, timeout: float = 60.0) -> str:
    """Draw the graph behind ``t`` into ``path`` (``.svg`` or ``.png``) with Graphviz's ``dot``.

    The file is written whole or not at all (a temporary file, then a rename). Raises
    :class:`GraphvizNotFoundError` when ``dot`` is not installed (:func:`to_dot` needs no
    Graphviz). Returns ``path``.
    """
    path = os.fspath(path)
    fmt = os.path.splitext(path)[1].lower().lstrip(".")
    if fmt not in ("svg", "png"):
        raise ValueError(f"render: the file name must end in .svg or .png, got {path!r}")
    dot = shutil.which("dot")
    if dot is None:
        raise GraphvizNotFoundError(
            "render: Graphviz's 'dot' program was not found on PATH; install Graphviz "
            "(apt-get install graphviz, brew install graphviz, or conda install graphviz). "
            "minigan.viz.to_dot(t) works without it and gives the DOT text.")
    source = to_dot(t, names)
    directory, name = os.path.split(os.path.abspath(path))
    temp = os.path.join(directory, f".{name}.{secrets.token_hex(4)}.tmp")
    try:
        try:
            result = subprocess.run([dot, f"-T{fmt}", "-o", temp], input=source.encode(),
                                    capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"render: dot took more than {timeout} s to draw a graph of "
                               f"{source.count(' -> ')} edges; try graph_text() instead") from None
        if result.returncode != 0:
            raise RuntimeError(f"render: dot failed (exit code {result.returncode}): "
                               f"{result.stderr.decode(errors='replace').strip()}")
        os.replace(temp, path)
    finally:
        if os.path.exists(temp):
            os.unlink(temp)
    return path
