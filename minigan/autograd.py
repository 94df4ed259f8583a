"""The heart of minigan: the graph of Functions and reverse-mode backprop.

Every differentiable op is a :class:`Function` with two methods:

- ``forward(*arrays) -> array`` computes the result on raw NumPy/CuPy arrays;
- ``backward(grad_output) -> grads`` turns the gradient of the output into gradients of the
  inputs, using *Tensor* ops, so that backprop through backprop (``create_graph=True``)
  gives second derivatives for free.

Calling a Function on Tensors runs ``forward`` and, when some input requires a gradient,
records the Function as the ``creator`` of the output: the graph is the chain of creators.
:func:`backward` walks that graph from the output to the leaves in reverse topological
order (with a loop, never recursion), calling each ``backward`` once with the sum of the
gradients that reached it (the multivariate chain rule).

In-place writes (an optimizer step, ``load_state_dict``, weight clipping) would change a value
that backward still needs. So every Tensor carries a :class:`VersionCounter`, shared by tensors
that share memory (``detach()``, views such as ``reshape`` or ``transpose``), that each in-place
write bumps (``Tensor._bump_version()``); a saved value remembers the version it had, and
backward raises if it has moved on, as PyTorch does.
"""
from __future__ import annotations

import contextlib
import threading

from . import backend

_mode = threading.local()  # the one switch, .grad_enabled: record graphs or not (per thread, as in PyTorch)
_profile = None  # the active minigan.profile(), if any (costs one test per op when off)


def is_grad_enabled() -> bool:
    """True when ops record the graph for backprop."""
    return getattr(_mode, "grad_enabled", True)


@contextlib.contextmanager
def _grad_mode(enabled: bool):
    previous, _mode.grad_enabled = is_grad_enabled(), enabled
    try:
        yield
    finally:
        _mode.grad_enabled = previous


def no_grad():
    """Context manager (or decorator) in which ops record no graph: for evaluation and updates."""
    return _grad_mode(False)


def enable_grad():
    """Context manager (or decorator) that turns graph recording back on inside ``no_grad``."""
    return _grad_mode(True)


@contextlib.contextmanager
def profile(sync: bool = False):
    """Context manager that times every op's forward and backward; see :mod:`minigan.profiler`."""
    global _profile
    from .profiler import Profile
    previous, _profile = _profile, Profile(sync)
    try:
        yield _profile
    finally:
        _profile = previous


class VersionCounter:
    """How many in-place writes a block of memory has seen; one object shared by every Tensor
    that looks at that memory, so a write through any of them is seen by all."""

    __slots__ = ("value",)

    def __init__(self):
        self.value = 0


def _check_version(fn, what: str, array, counter, saved_version: int) -> None:
    """Raise, as PyTorch does, if a value saved for ``fn``'s backward was written in place since."""
    if counter.value != saved_version:
        raise RuntimeError(
            f"one of the variables needed for gradient computation has been modified by an inplace "
            f"operation: [{array.dtype} {tuple(array.shape)}] {what} of {fn.name} is at version "
            f"{counter.value}; expected version {saved_version} instead. Hint: an in-place write (an "
            "optimizer step, load_state_dict, weight clipping, Module.to, ...) happened between this "
            "forward and its backward; call backward (or minigan.grad) before the write, or run the "
            "forward again after it.")


class Function:
    """One differentiable op. Subclasses define ``forward`` and ``backward``.

    Class attributes say what ``backward`` needs, so nothing else is kept alive:

    - ``save_inputs``: indices of inputs whose values backward reads (``self.saved_input(i)``);
    - ``save_output``: True if backward reads the output (``self.saved_output()``).

    Saved values are checked against in-place writes before backward runs. Other values
    ``forward`` stores on ``self`` (masks, shapes, parameters) are constants for backward: they
    must be new arrays, never an input's or the output's own memory (that would escape the
    check). ``is_view``: the output is a view of input 0's memory (reshape, transpose, basic
    indexing), so it shares input 0's version counter. All of it is freed once backward has
    run, unless ``retain_graph``.
    """

    save_inputs: tuple = ()
    save_output: bool = False
    is_view: bool = False

    def __call__(self, *inputs):
        if _profile is not None:
            return _profile.timed(self.name, "forward", self._apply, *inputs)
        return self._apply(*inputs)

    def _apply(self, *inputs):
        """Run forward on the arrays; record this Function in the graph if a gradient is wanted."""
        arrays = [t.array for t in inputs]
        if len(arrays) > 1:
            backend.check_same_device(self.name, arrays)
        with backend.on_device_of(arrays[0] if arrays else None):  # on cuda:N, CuPy must run on N
            out = self.forward(*arrays)
        version = inputs[0]._version_counter if self.is_view else None  # a view shares its base's
        record = is_grad_enabled() and any(t.requires_grad for t in inputs)
        if not record:
            return Tensor(out, version_counter=version)
        self.parents = tuple(t._node() for t in inputs)
        self.needs_input_grad = tuple(t.requires_grad for t in inputs)
        self.out_shape, self.out_dtype = out.shape, out.dtype  # for minigan.viz
        result = Tensor(out, requires_grad=True, creator=self, version_counter=version)
        # each saved value: (array, graph node, version counter, its version now)
        self.saved = {i: (inputs[i].array, self.parents[i], inputs[i]._version_counter,
                          inputs[i]._version_counter.value) for i in self.save_inputs}
        if self.save_output:
            self.saved["out"] = (out, None, result._version_counter, result._version_counter.value)
        return result

    @property
    def name(self) -> str:
        return type(self).__name__

    def forward(self, *arrays):
        raise NotImplementedError(f"{self.name}.forward")

    def backward(self, grad_output):
        raise NotImplementedError(f"{self.name}.backward")

    # -- saved values, as Tensors that lead back into the graph ------------------------
    def saved_input(self, i: int) -> "Tensor":
        """Input ``i`` as a Tensor whose creator is the input's own creator (so it is differentiable)."""
        data, parent, counter, _ = self._check_saved(i)
        if isinstance(parent, Tensor):  # a leaf: hand back the leaf itself
            return parent
        return Tensor(data, requires_grad=parent is not None, creator=parent, version_counter=counter)

    def saved_output(self) -> "Tensor":
        """The output as a Tensor created by this Function (so it is differentiable)."""
        data, _, counter, _ = self._check_saved("out")
        return Tensor(data, requires_grad=True, creator=self, version_counter=counter)

    def _check_saved(self, key):
        """The saved entry ``key`` (an input index or "out"), after checking that no in-place
        write changed it since the forward."""
        entry = self._saved()[key]
        data, parent, counter, version = entry
        _check_version(self, "output 0" if key == "out" else f"input {key}", data, counter, version)
        if isinstance(parent, Tensor) and parent.array is not data:  # a leaf given a new array
            raise RuntimeError(
                f"{self.name}: input {key} (a leaf of shape {parent.shape}) had its array replaced "
                "(.array or .data assigned) after the forward that saved it; call backward "
                "before replacing it, or run the forward again after")
        return entry

    def _saved(self):
        if self.saved is None:
            raise RuntimeError(
                f"{self.name}: trying to backward through the graph a second time, but its saved "
                "values were freed after the first backward. Pass retain_graph=True to the first "
                "backward (or minigan.grad) to keep them.")
        return self.saved

    def release(self) -> None:
        """Free what backward needed; a second backward through this node raises."""
        kept = self.parents, self.out_shape, self.out_dtype
        self.__dict__.clear()
        self.parents, self.out_shape, self.out_dtype = kept
        self.saved, self.released = None, True

    released = False
    out_shape = out_dtype = None  # the output's, set when recorded in the graph (kept by release)


def _parents(node):
    return node.parents if isinstance(node, Function) else ()


def _topological_order(roots):
    """Nodes reachable from ``roots``, each after all its parents (iterative post-order DFS)."""
    ### BEGIN SOLUTION backprop
    order, visited = [], set()
    stack = [(root, False) for root in roots]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        if getattr(node, "released", False):
            node._saved()  # raises the retain_graph error
        visited.add(id(node))
        stack.append((node, True))
        stack.extend((p, False) for p in _parents(node) if p is not None and id(p) not in visited)
    return order
    ### END SOLUTION


def _leading_to(order, targets):
    """The ids of the nodes that are, or lead back to, a target: the only ones worth visiting."""
    reach = {id(t) for t in targets}
    for node in order:  # parents come first, so one pass suffices
        if any(p is not None and id(p) in reach for p in _parents(node)):
            reach.add(id(node))
    return reach


def _run_backward(roots, root_grads, targets, retain_graph, create_graph):
    """Propagate ``root_grads`` from ``roots`` back through the graph.

    Returns ``{id(target): gradient}`` for the target nodes; when ``targets`` is None every
    leaf is a target and its gradient is accumulated into ``leaf.grad`` instead.
    """
    order = _topological_order(roots)
    reach = None if targets is None else _leading_to(order, targets)
    for node in reversed(order):  # check every saved value before any gradient lands (a failed call changes nothing)
        if isinstance(node, Function) and (reach is None or id(node) in reach):
            for key in node.saved:
                node._check_saved(key)
    target_ids = set() if targets is None else {id(t) for t in targets}
    grads, found, fresh = {}, {}, set()
    for node, g in zip(roots, root_grads):
        grads[id(node)] = g if id(node) not in grads else grads[id(node)] + g
    with _grad_mode(create_graph), backend.on_device_of(root_grads[0].array):
        for node in reversed(order):
            g = grads.pop(id(node), None)
            if g is None:
                continue
            if id(node) in target_ids:
                found[id(node)] = g
            if isinstance(node, Tensor):  # a leaf
                if targets is None:
                    _accumulate(node, g, fresh, create_graph)
                continue
            # which inputs need a gradient in *this* pass: backward skips the others
            # (minigan.grad w.r.t. G's weights computes no gradient for D's weights)
            node.needs_input_grad = tuple(p is not None and (reach is None or id(p) in reach)
                                          for p in node.parents)
            if not any(node.needs_input_grad):
                continue
            if _profile is None:
                grads_in = node.backward(g)
            else:
                grads_in = _profile.timed(node.name, "backward", node.backward, g)
            if not isinstance(grads_in, tuple):
                grads_in = (grads_in,)
            ### BEGIN SOLUTION backprop
            for parent, gx in zip(node.parents, grads_in):
                if parent is None or gx is None:
                    continue
                key = id(parent)
                grads[key] = gx if key not in grads else grads[key] + gx
            ### END SOLUTION
            if not retain_graph:
                node.release()
    return found


def _accumulate(leaf, g, fresh, create_graph):
    """leaf.grad += g. A gradient array that is a view, or already handed to another leaf,
    is copied first, so that no two ``.grad`` share memory."""
    if leaf.grad is not None:
        leaf.grad = leaf.grad + g
        return
    if not create_graph and (id(g) in fresh or g.array.base is not None):
        g = Tensor(g.array.copy())
    fresh.add(id(g))
    leaf.grad = g


def _seed_gradient(output, grad):
    """The gradient that starts backprop at ``output``: 1 for a scalar, else ``grad``."""
    if not output.requires_grad:
        raise RuntimeError("backward: the output does not require grad (no input of the graph "
                           "has requires_grad=True, or it was computed under no_grad)")
    if grad is None:
        if output.array.size != 1:
            raise RuntimeError(f"backward: grad can be created implicitly only for a scalar output, "
                               f"got shape {output.shape}; pass grad= of the same shape")
        return Tensor(backend.array_module(output.array).ones_like(output.array))
    if not isinstance(grad, Tensor):
        raise TypeError(f"backward: grad must be a Tensor, got {type(grad).__name__}")
    if grad.shape != output.shape:
        raise ValueError(f"backward: grad has shape {grad.shape} but the output has shape {output.shape}")
    if grad.dtype != output.dtype or grad.device != output.device:  # it would spread into every .grad
        raise TypeError(f"backward: grad is {grad.dtype} on {grad.device} but the output is {output.dtype} "
                        f"on {output.device}")
    return grad


def backward(output, grad=None, retain_graph=False, create_graph=False) -> None:
    """Accumulate d(output)/d(leaf) into ``leaf.grad`` for every leaf with ``requires_grad``.

    ``grad`` is the upstream gradient (needed when ``output`` is not a scalar);
    ``retain_graph`` keeps the saved values for another backward; ``create_graph`` records
    the backward pass itself, so the gradients can be differentiated again.
    """
    seed = _seed_gradient(output, grad)
    _run_backward([output._node()], [seed], None, retain_graph or create_graph, create_graph)


def _tensors(name: str, value) -> list:
    """A Tensor or a sequence of Tensors, as a list (for grad's outputs and inputs)."""
    values = [value] if isinstance(value, Tensor) else value
    if not isinstance(values, (list, tuple)) or not all(isinstance(v, Tensor) for v in values):
        raise TypeError(f"grad: {name} must be a Tensor or a sequence of Tensors, got {type(value).__name__}")
    return list(values)


def grad(outputs, inputs, grad_outputs=None, create_graph=False, retain_graph=None, allow_unused=False):
    """Gradients of ``outputs`` with respect to ``inputs``, returned (``.grad`` is not touched).

    Like ``torch.autograd.grad``: ``outputs`` and ``inputs`` are Tensors or sequences of them;
    ``grad_outputs`` weights each output (required for non-scalar outputs). With
    ``create_graph=True`` the result is differentiable, which is how WGAN-GP penalises the
    gradient norm. An input the outputs do not depend on raises, unless ``allow_unused``
    (then its gradient is None).
    """
    outputs = _tensors("outputs", outputs)
    inputs = _tensors("inputs", inputs)
    if grad_outputs is None or isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs] * len(outputs)
    if len(grad_outputs) != len(outputs):
        raise ValueError(f"grad: got {len(grad_outputs)} grad_outputs for {len(outputs)} outputs")
    for i, t in enumerate(inputs):
        if not t.requires_grad:
            raise RuntimeError(f"grad: input {i} (shape {t.shape}) does not require grad")
    if retain_graph is None:
        retain_graph = create_graph
    seeds = [_seed_gradient(o, g) for o, g in zip(outputs, grad_outputs)]
    targets = [t._node() for t in inputs]
    found = _run_backward([o._node() for o in outputs], seeds, targets, retain_graph, create_graph)
    result = []
    for i, node in enumerate(targets):
        g = found.get(id(node))
        if g is None and not allow_unused:
            raise RuntimeError(f"grad: input {i} (shape {inputs[i].shape}) was not used to compute "
                               "the outputs; pass allow_unused=True to get None for it")
        result.append(g)
    return tuple(result)


from .tensor import Tensor  # noqa: E402  (Tensor's ops are Functions; Functions make Tensors)
