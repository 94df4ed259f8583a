"""Backprop by hand through a tiny network, printed step by step and checked three ways.

    python docs/worked_example.py

The network: x (4 samples, 2 features) -> linear(3) -> tanh -> linear(1) -> BCE with logits.

1. Build it with minigan (in float64) and print its graph with minigan.viz.
2. Walk the graph ourselves, output first (reverse topological order), calling each
   Function's backward and printing the gradient it sends to each of its inputs. This is
   what minigan.autograd.backward does, without its bookkeeping.
3. Check the parameter gradients against loss.backward(), a chain rule written out in
   NumPy, and minigan.gradcheck (central finite differences).

docs/03_worked_example.md explains what to look for in the output.
"""
import numpy as np

import minigan
from minigan import functional as F
from minigan import viz

# What each op's backward computes: gx = local derivative * upstream gradient gy.
LOCAL_RULES = {
    "Permute": "gx = gy transposed back",
    "MatMul": "Y = A B: gA = gY B^T, gB = A^T gY",
    "Add": "d(a+b)/da = d(a+b)/db = 1 (summed back over broadcast axes: sum_to)",
    "Tanh": "d tanh(x)/dx = 1 - y^2",
    "Softplus": "d softplus(x)/dx = sigmoid(x)",
    "Mul": "d(ab)/da = b, d(ab)/db = a",
    "Sub": "d(a-b)/da = 1, d(a-b)/db = -1",
    "Sum": "every summed element gets gy",
}


def data():
    """Fixed inputs, targets and parameters (float64, so finite differences are accurate)."""
    rng = np.random.default_rng(0)
    x = minigan.tensor(rng.standard_normal((4, 2)))
    t = minigan.tensor([[1.0], [0.0], [1.0], [0.0]], dtype="float64")
    params = {
        "w1": minigan.tensor(rng.standard_normal((3, 2)) * 0.8, requires_grad=True),  # (out, in)
        "b1": minigan.tensor(rng.standard_normal(3) * 0.1, requires_grad=True),
        "w2": minigan.tensor(rng.standard_normal((1, 3)) * 0.8, requires_grad=True),
        "b2": minigan.tensor(rng.standard_normal(1) * 0.1, requires_grad=True),
    }
    return x, t, params


def network(x, t, w1, b1, w2, b2):
    """The forward pass; returns the loss and the intermediate tensors (to name them)."""
    a1 = F.linear(x, w1, b1)          # a1 = x W1^T + b1          (4, 3)
    h = F.tanh(a1)                    # h = tanh(a1)              (4, 3)
    z = F.linear(h, w2, b2)           # z = h W2^T + b2 (logits)  (4, 1)
    loss = F.binary_cross_entropy_with_logits(z, t)  # mean(softplus(z) - z t)
    return loss, {"a1 = x W1^T + b1": a1, "h = tanh(a1)": h, "z = h W2^T + b2": z,
                  "loss = mean(softplus(z) - z t)": loss}


def topological_order(root):
    """Every node reachable from ``root``, each after all of its inputs (iterative DFS)."""
    order, visited, stack = [], set(), [(root, False)]
    while stack:
        node, inputs_done = stack.pop()
        if inputs_done:
            order.append(node)
        elif id(node) not in visited:
            visited.add(id(node))
            stack.append((node, True))
            parents = node.parents if isinstance(node, minigan.Function) else ()
            stack.extend((p, False) for p in parents if p is not None)
    return order


def fmt(array, indent: int = 14) -> str:
    """An array printed compactly, continuation lines indented by ``indent``."""
    array = np.asarray(array)
    text = np.array2string(array, precision=4, suppress_small=True, separator=", ")
    if array.ndim == 2 and array.shape[1] == 1:  # a column: one line
        return text.replace("\n", "")
    return text.replace("\n", "\n" + " " * indent)


def walk_backward(loss, labels):
    """Backprop by hand: returns {id(leaf): gradient array}, printing every step."""
    def describe(node):
        shape = node.shape if isinstance(node, minigan.Tensor) else node.out_shape
        return f"{labels.get(id(node), type(node).__name__)} {shape}"

    order = topological_order(loss.creator)
    grads = {id(loss.creator): minigan.ones_like(loss)}  # dloss/dloss = 1: the seed
    arrivals = {id(loss.creator): 1}  # how many gradients were summed into grads[node]
    leaf_grads = {}
    with minigan.no_grad():  # the backward pass itself needs no graph here
        for step, node in enumerate(reversed(order), 1):
            g = grads.pop(id(node))
            summed = f"  (the sum of {arrivals[id(node)]} arrivals)" if arrivals[id(node)] > 1 else ""
            if isinstance(node, minigan.Tensor):  # a leaf: its gradient is complete
                leaf_grads[id(node)] = g.numpy()
                print(f"[{step:2d}] leaf {describe(node)}{summed}\n     dloss/d{labels[id(node)]} = "
                      f"{fmt(g.numpy(), 15 + len(labels[id(node)]))}")
                continue
            name = f"   [{labels[id(node)]}]" if id(node) in labels else ""
            print(f"[{step:2d}] {type(node).__name__} {node.out_shape}{name}")
            print(f"     rule:  {LOCAL_RULES[type(node).__name__]}")
            print(f"     gy   = {fmt(g.numpy(), 12)}{summed}")
            grads_in = node.backward(g)
            grads_in = grads_in if isinstance(grads_in, tuple) else (grads_in,)
            for i, (parent, gx) in enumerate(zip(node.parents, grads_in)):
                if parent is None:
                    print(f"     input {i}: a constant, no gradient")
                    continue
                print(f"     input {i} -> {describe(parent)}:\n            {fmt(gx.numpy(), 12)}")
                key = id(parent)  # a node used twice gets the sum (multivariate chain rule)
                grads[key] = gx if key not in grads else grads[key] + gx
                arrivals[key] = arrivals.get(key, 0) + 1
    return leaf_grads


def by_hand_numpy(x, t, w1, b1, w2, b2):
    """The same gradients from the chain rule written out with NumPy arrays."""
    a1 = x @ w1.T + b1
    h = np.tanh(a1)
    z = h @ w2.T + b2
    n = z.shape[0]
    dz = (1 / (1 + np.exp(-z)) - t) / n  # d mean(softplus(z) - z t)/dz = (sigmoid(z) - t) / n
    dh = dz @ w2                          # back through z = h W2^T + b2
    da1 = dh * (1 - h ** 2)               # back through tanh
    return {"w1": da1.T @ x, "b1": da1.sum(axis=0), "w2": dz.T @ h, "b2": dz.sum(axis=0)}


def main() -> bool:
    x, t, params = data()
    loss, intermediates = network(x, t, **params)
    labels = {id(p): name for name, p in params.items()}
    labels.update({id(v.creator): name for name, v in intermediates.items()})
    print(f"loss = {loss.item():.6f}\n\nThe graph (minigan.viz.print_graph):\n")
    viz.print_graph(loss, names={p: name for name, p in params.items()})

    print("\nBackward, one node at a time (output first):\n")
    walked = walk_backward(loss, labels)

    loss.backward()  # the engine's own walk, into .grad
    numpy_grads = by_hand_numpy(*(v.numpy() for v in (x, t, *params.values())))
    passed = minigan.gradcheck(lambda *ps: network(x, t, *ps)[0], tuple(params.values()))

    print("\nParameter gradients (flattened), three ways:\n")
    worst = 0.0
    for name, p in params.items():
        mine, engine, numpy = walked[id(p)], p.grad.numpy(), numpy_grads[name]
        worst = max(worst, np.abs(mine - engine).max(), np.abs(mine - numpy).max())
        print(f"dloss/d{name} {p.shape}")
        for method, value in (("hand walk", mine), ("loss.backward()", engine), ("NumPy by hand", numpy)):
            print(f"    {method:16s} {fmt(value.ravel())}")
    agree = bool(passed and worst < 1e-12)
    print(f"\ngradcheck (finite differences): {'passed' if passed else 'FAILED'}")
    print(f"largest difference between the hand walk, loss.backward() and NumPy: {worst:.1e}")
    print("RESULT: all gradients agree" if agree else "RESULT: gradients DISAGREE")
    return agree


if __name__ == "__main__":
    if not main():
        raise SystemExit(1)
