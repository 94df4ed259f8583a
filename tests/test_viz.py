"""minigan.viz: the text tree, the DOT text and rendering, on small and on pathological graphs."""
import io
from collections import Counter
import os
import re
import shutil
import sys
import time

import numpy as np
import pytest

import minigan
from minigan import functional as F
from minigan import nn, viz

NO_DOT = "Graphviz's dot program is not installed (apt-get install graphviz / brew install graphviz)"


def linear_tanh(device="cpu"):
    """tanh(x W^T + b) for x (4, 2) constant, W (3, 2) and b (3,) leaves."""
    x = minigan.tensor(np.arange(8.0).reshape(4, 2), dtype="float32", device=device)
    w = minigan.ones(3, 2, device=device, requires_grad=True)
    b = minigan.zeros(3, device=device, requires_grad=True)
    return F.tanh(F.linear(x, w, b)), w, b


def chain(n, step=lambda z: z + 1.0):
    """a + 1 + 1 + ... (n additions, or n other steps): a graph n ops deep."""
    a = minigan.tensor(0.0, requires_grad=True)
    z = a
    for _ in range(n):
        z = step(z)
    return z


def edges(dot: str) -> list:
    return re.findall(r"^\s*(\w+) -> (\w+)", dot, flags=re.M)


def declared(dot: str) -> set:
    return set(re.findall(r"^\s*(\w+) \[label=", dot, flags=re.M))


# -- the text tree ------------------------------------------------------------------------------------
def test_text_tree_of_a_small_network(device):
    # linear(x, w, b) = matmul(x, transpose(w)) + b, so the ops are Tanh <- Add <- (MatMul <- (x, Permute <- w), b)
    y, w, b = linear_tanh(device)
    expected = "\n".join([
        "Tanh (4, 3) float32",
        "`-- Add (4, 3) float32",
        "    |-- MatMul (4, 3) float32",
        "    |   |-- constant",
        "    |   `-- Permute (2, 3) float32",
        "    |       `-- Tensor 'w' (3, 2) float32 requires_grad=True",
        "    `-- Tensor 'b' (3,) float32 requires_grad=True",
    ]) + "\n"
    assert viz.graph_text(y, names={w: "w", b: "b"}) == expected


def test_names_come_from_a_module_its_named_parameters_or_pairs():
    model = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1))
    out = model(minigan.randn(5, 2)).sum()
    text = viz.graph_text(out, names=model)
    for name, p in model.named_parameters():
        assert f"Parameter '{name}' {p.shape} float32 requires_grad=True" in text
    assert viz.graph_text(out, names=model.named_parameters()) == text
    assert viz.graph_text(out, names=dict(model.named_parameters())) == text  # {name: tensor} too
    assert "'0.weight'" not in viz.graph_text(out)  # unnamed without names


def test_bad_names_raise():
    y, w, _ = linear_tanh()
    with pytest.raises(TypeError, match="names must map Tensors"):
        viz.graph_text(y, names={w: 3})
    with pytest.raises(TypeError, match="names must map Tensors"):
        viz.graph_text(y, names=[w])  # tensors without names


def test_a_shared_node_is_printed_once_and_referred_to_after():
    a = minigan.tensor(2.0, requires_grad=True)
    h = a * 3.0
    y = h * h + h  # h feeds three op inputs
    lines = viz.graph_text(y, names={a: "a"}).splitlines()
    assert sum("Tensor 'a'" in line for line in lines) == 1
    full = [line for line in lines if re.search(r"Mul \(\) float32 \[#1\]$", line)]
    refs = [line for line in lines if line.endswith("Mul [#1] (see above)")]
    assert len(full) == 1 and len(refs) == 2
    assert lines.index(full[0]) < min(lines.index(r) for r in refs)


def test_shared_leaves_are_tagged_too():
    w = minigan.ones(2, requires_grad=True)
    text = viz.graph_text(w * w, names={w: "w"})
    assert text.count("Tensor 'w' (2,) float32 requires_grad=True [#1]") == 1
    assert text.count("'w' [#1] (see above)") == 1


def test_repeated_sharing_is_linear_not_exponential():
    a = minigan.tensor(1.0, dtype="float64", requires_grad=True)
    z = a
    for _ in range(60):  # each z is used twice by the next: 2**60 paths from the output to a
        z = z * z
    start = time.perf_counter()
    lines = viz.graph_text(z, max_depth=None).splitlines()
    assert time.perf_counter() - start < 1.0
    assert len(lines) == 1 + 2 * 60  # every op: one full line and one reference
    assert sum("(see above)" in line for line in lines) == 60


def test_a_20000_op_chain_is_summarised_below_the_depth_limit():
    z = chain(20_000, step=F.neg)  # 20,000 Negs and the leaf: deeper than the recursion limit
    text = viz.graph_text(z, max_depth=10)
    # printed: the output (depth 0) to depth 10, 11 nodes; of 20,001 nodes 19,990 remain
    assert text.splitlines()[-1] == " " * 4 * 9 + "`-- Neg () float32 ... (19990 more nodes below)"
    assert len(text.splitlines()) == 11
    assert "more nodes below)" in viz.graph_text(z)  # the default limit applies too
    dot = viz.to_dot(z)
    assert len(edges(dot)) == 20_000 and len(declared(dot)) == 20_001


def test_unlimited_depth_is_iterative():
    z = chain(1500)  # a recursive printer would need 1500 nested calls, over the recursion limit
    lines = viz.graph_text(z, max_depth=None).splitlines()
    assert len(lines) == 1 + 2 * 1500
    (leaf,) = [line for line in lines if "Tensor ()" in line]
    assert leaf == "|   " * 1499 + "|-- Tensor () float32 requires_grad=True"  # 1500 levels down
    assert lines[-1] == "`-- constant"  # the output's own constant comes last


def test_tensors_outside_a_graph_and_leaves():
    assert viz.graph_text(minigan.ones(2, 3)) == "Tensor (2, 3) float32 requires_grad=False (not part of a graph)\n"
    p = nn.Parameter(minigan.zeros(4))
    assert viz.graph_text(p, names={p: "p"}) == "Parameter 'p' (4,) float32 requires_grad=True\n"
    with minigan.no_grad():
        assert "not part of a graph" in viz.graph_text(p * 2.0)


def test_shapes_survive_backward_and_freed_nodes_are_marked():
    y, w, b = linear_tanh()
    before = viz.graph_text(y)
    y.sum().backward(retain_graph=True)
    assert viz.graph_text(y) == before  # retained: nothing freed
    y.sum().backward()
    after = viz.graph_text(y)
    assert "Tanh (4, 3) float32 (freed by backward)" in after
    assert after.replace(" (freed by backward)", "") == before


def test_print_graph_writes_the_text():
    y, _, _ = linear_tanh()
    out = io.StringIO()
    viz.print_graph(y, file=out)
    assert out.getvalue() == viz.graph_text(y)


def test_bad_arguments_raise():
    with pytest.raises(TypeError, match="expected a Tensor"):
        viz.graph_text(np.ones(3))
    y, _, _ = linear_tanh()
    with pytest.raises(ValueError, match="max_depth"):
        viz.graph_text(y, max_depth=0)


# -- DOT ------------------------------------------------------------------------------------------------
def test_dot_is_structurally_valid_and_complete():
    y, w, b = linear_tanh()
    dot = viz.to_dot(y, names={w: "w", b: "b"})
    assert dot.startswith("digraph minigan {") and dot.rstrip().endswith("}")
    assert dot.count("{") == dot.count("}")
    found = edges(dot)
    assert set(a for a, _ in found) | set(b for _, b in found) <= declared(dot)
    # 4 ops + 2 leaves + 1 constant (x); 6 edges: Add->Tanh, MatMul->Add, b->Add, x->MatMul,
    # Permute->MatMul, w->Permute
    assert len(declared(dot)) == 7 and len(found) == 6
    for label in ("Tanh\\n(4, 3) float32", "Permute\\n(2, 3) float32", "w\\n(3, 2) float32", "constant"):
        assert label in dot


def test_dot_ids_depend_only_on_the_structure():
    first, _, _ = linear_tanh()
    second, _, _ = linear_tanh()
    assert viz.to_dot(first) == viz.to_dot(second)
    assert re.search(r"^  n0 \[label=\"Tanh", viz.to_dot(first), flags=re.M)  # n0: the output's op


def test_dot_shared_nodes_appear_once_with_one_edge_per_use():
    a = minigan.tensor(2.0, requires_grad=True)
    h = a * 3.0
    dot = viz.to_dot(h * h + h)
    assert dot.count('"Mul\\n() float32"') == 2  # h's Mul and h * h, each declared once
    uses = Counter(source for source, _ in edges(dot))
    assert sorted(uses.values()) == [1, 1, 1, 3]  # h: 3 uses; a, the constant 3.0, h * h: 1 each


def test_dot_of_a_tensor_outside_a_graph_is_one_node():
    dot = viz.to_dot(minigan.ones(2, 3))
    assert declared(dot) == {"n0"} and edges(dot) == [] and "(2, 3) float32" in dot


def test_dot_escapes_names():
    w = minigan.ones(2, requires_grad=True)
    dot = viz.to_dot(w * 2.0, names={w: 'a "quoted"\\name'})
    assert '\\"quoted\\"\\\\name' in dot
    assert dot.count("{") == dot.count("}")


# -- render ---------------------------------------------------------------------------------------------
def test_render_without_graphviz_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(shutil, "which", lambda name, *args, **kwargs: None)
    y, _, _ = linear_tanh()
    with pytest.raises(viz.GraphvizNotFoundError, match=r"apt-get install graphviz.*brew install graphviz") as err:
        viz.render(y, tmp_path / "graph.svg")
    assert "to_dot" in str(err.value)
    assert isinstance(err.value, RuntimeError)
    assert list(tmp_path.iterdir()) == []


def test_render_needs_svg_or_png(tmp_path):
    y, _, _ = linear_tanh()
    with pytest.raises(ValueError, match=r"\.svg or \.png"):
        viz.render(y, tmp_path / "graph.pdf")


def fake_dot(tmp_path, body: str) -> str:
    script = tmp_path / "bin" / "dot"
    script.parent.mkdir()
    script.write_text("#!/bin/sh\n" + body + "\n")
    script.chmod(0o755)
    return str(script)


posix_only = pytest.mark.skipif(os.name != "posix", reason="the fake dot program is a shell script")


@posix_only
def test_render_sends_the_dot_text_and_renames_the_result(monkeypatch, tmp_path):
    dot = fake_dot(tmp_path, 'cat > "$3"')  # argv: -Tsvg -o TEMP; writes its stdin there
    monkeypatch.setattr(shutil, "which", lambda name, *args, **kwargs: dot if name == "dot" else None)
    y, _, _ = linear_tanh()
    target = tmp_path / "graph.svg"
    assert viz.render(y, target) == str(target)
    assert target.read_text() == viz.to_dot(y)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bin", "graph.svg"]  # no temporary left


@posix_only
def test_render_reports_a_failing_dot_and_leaves_nothing(monkeypatch, tmp_path):
    dot = fake_dot(tmp_path, 'echo "syntax error in line 3" >&2; echo partial > "$3"; exit 3')
    monkeypatch.setattr(shutil, "which", lambda name, *args, **kwargs: dot)
    y, _, _ = linear_tanh()
    with pytest.raises(RuntimeError, match=r"exit code 3.*syntax error in line 3"):
        viz.render(y, tmp_path / "graph.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bin"]


@posix_only
def test_render_times_out(monkeypatch, tmp_path):
    dot = fake_dot(tmp_path, "exec sleep 5")
    monkeypatch.setattr(shutil, "which", lambda name, *args, **kwargs: dot)
    y, _, _ = linear_tanh()
    with pytest.raises(RuntimeError, match="took more than"):
        viz.render(y, tmp_path / "graph.svg", timeout=0.3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bin"]


@pytest.mark.skipif(shutil.which("dot") is None, reason=NO_DOT)
def test_render_with_graphviz_writes_svg_and_png(tmp_path):
    model = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1))
    loss = F.binary_cross_entropy_with_logits(model(minigan.randn(4, 2)), minigan.ones(4, 1))
    svg = viz.render(loss, tmp_path / "graph.svg", names=model)
    text = open(svg, encoding="utf-8").read()
    assert "<svg" in text and "0.weight" in text and "Softplus" in text
    png = viz.render(loss, tmp_path / "graph.png")
    assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["graph.png", "graph.svg"]
