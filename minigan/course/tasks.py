"""The catalogue of assignable tasks: one per op (its forward and backward), optimizer, GAN game,
and the backward pass itself.

Each task id ``t`` has solution regions ``### BEGIN SOLUTION t`` in the reference source (see
:mod:`minigan.course.markers`) and tests marked ``op_t`` (registered in setup.cfg), found in
the test files listed here: ``pytest -m op_t <files>`` grades the task. The marks live in the
test files themselves (decorators, ``pytest.param(..., marks=...)``), so no conftest hook is
needed to map a task to its tests: :func:`minigan.course.grader.collect` lists them.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Task:
    id: str
    title: str  # what the task is about, for people
    tests: tuple  # test files (relative to the repository root) that hold the op_<id> tests
    notes: str = ""  # what the rest of the library expects of the student's code

    @property
    def marker(self) -> str:
        return f"op_{self.id}"


_E, _R, _L = "tests/test_elementwise.py", "tests/test_reduce.py", "tests/test_linalg.py"
_C, _N, _S = "tests/test_conv.py", "tests/test_norm.py", "tests/test_loss.py"
_A, _O, _G = "tests/test_activation.py", "tests/test_optim.py", "tests/test_gan.py"
_BROADCAST = "Sum each input's gradient back to the input's shape with sum_to (broadcasting)."
_GAN = "Compute it from the discriminator's logits with softplus (exact for any logit)."

TASKS = (
    # -- elementwise ------------------------------------------------------------------------
    Task("add", "a + b with broadcasting", (_E,), _BROADCAST),
    Task("sub", "a - b with broadcasting", (_E,), _BROADCAST),
    Task("mul", "a * b with broadcasting", (_E,), _BROADCAST),
    Task("div", "a / b with broadcasting", (_E,), _BROADCAST),
    Task("neg", "-x", (_E,)),
    Task("pow", "x ** p, differentiable in x and p", (_E,),
         "The derivative is 0 where x^p is constant (p == 0 for x; x == 0 and p >= 0 for p), not NaN."),
    Task("exp", "e^x", (_E,)),
    Task("log", "natural logarithm", (_E,)),
    Task("sqrt", "square root", (_E,)),
    Task("abs", "|x| (gradient 0 at 0)", (_E,)),
    Task("clip", "x limited to [low, high] (None: no bound)", (_E,),
         "The bounds themselves pass the gradient, as in PyTorch."),
    Task("maximum", "elementwise maximum and minimum (pick_larger)", (_E,),
         "Ties split the gradient evenly between a and b. " + _BROADCAST),
    Task("where", "a where the condition holds, else b", (_E,), _BROADCAST),
    # -- reductions and matrix products ----------------------------------------------------------
    Task("sum", "sum over axes (also behind mean and var)", (_R,),
         "forward stores what backward needs; _expand broadcasts a gradient back over the reduced axes."),
    Task("max", "max and min over axes (largest)", (_R,), "Ties share the gradient evenly."),
    Task("logsumexp", "log(sum(exp(x))) over axes, without overflow", (_R,),
         "Rows that are all -inf give -inf, not NaN."),
    Task("matmul", "batched matrix product with broadcasting batch axes", (_L,),
         "The public matmul turns 1-D operands into matrices first: forward sees >= 2-D arrays."),
    # -- convolution ------------------------------------------------------------------------------
    Task("im2col", "every kernel window of an (N, C, H, W) image as a column", (_C,),
         "Returns (C*kh*kw, Ho*Wo*N), rows ordered (c, i, j) and columns (y, x, n); no Python loop over pixels. "
         "With reuse=True, write into _empty(x, shape, \"columns\") (a buffer kept between calls) instead of a new array."),
    Task("col2im", "the adjoint of im2col: add each column back where im2col took it", (_C,),
         "Returns (N, C, H, W); loops over the kh*kw kernel offsets at most."),
    Task("conv2d", "2-D cross-correlation by im2col and one matrix product", (_C,),
         "backward is made of the other two conv Functions (ConvTranspose2d, Conv2dGradW)."),
    Task("conv_transpose2d", "transposed convolution (the adjoint of conv2d) by col2im", (_C,)),
    Task("conv2d_grad_w", "conv2d's weight gradient as a differentiable Function", (_C,),
         "It is bilinear in (x, dy): each of its gradients is another conv with ggw."),
    Task("batch_norm", "fused training-mode batch norm", (_N,),
         "forward must leave the batch statistics in self.mean and self.var (biased, per channel): "
         "batch_norm() updates the running statistics from them. backward with create_graph "
         "already differentiates the definition (_differentiable_backward); write the fused one."),
    # -- activations and losses -------------------------------------------------------------------
    Task("relu", "max(x, 0)", (_A,), "The gradient at 0 is 0, as in PyTorch."),
    Task("leaky_relu", "x for x > 0, else negative_slope * x", (_A,),
         "The gradient at 0 is negative_slope; any slope, negative or above 1, must work."),
    Task("sigmoid", "1 / (1 + e^-x), never overflowing", (_A,)),
    Task("tanh", "hyperbolic tangent", (_A,)),
    Task("softplus", "log(1 + e^x), never overflowing (also behind logsigmoid)", (_A,)),
    Task("softmax", "softmax along one axis", (_A,)),
    Task("log_softmax", "log-softmax along one axis", (_A,)),
    Task("binary_cross_entropy", "BCE on probabilities, each log clamped at -100 as in PyTorch", (_S,),
         "backward: dl/dp = (p - t) / (p (1 - p)) with the denominator kept >= 1e-12; no gradient for t."),
    # -- optimizers ---------------------------------------------------------------------------------
    Task("sgd", "SGD with momentum, dampening, Nesterov and weight decay", (_O,),
         "Update p.array in place; never write into grad (it may share memory). Keep state in `state`."),
    Task("adam", "Adam with PyTorch's bias corrections and weight decay", (_O,),
         "state holds step, exp_avg and exp_avg_sq (the names state_dict() saves)."),
    Task("rmsprop", "RMSprop with momentum and weight decay", (_O,),
         "state holds step, square_avg and, with momentum, momentum_buffer."),
    # -- GAN games ---------------------------------------------------------------------------------
    Task("minimax_loss", "the minimax game: D's loss and the saturating G loss", (_G,), _GAN),
    Task("non_saturating_loss", "the non-saturating G loss", (_G,), _GAN),
    Task("wasserstein_loss", "the Wasserstein critic and generator losses", (_G,)),
    Task("lsgan_loss", "the least-squares GAN losses", (_G,)),
    Task("hinge_loss", "the hinge discriminator loss", (_G,)),
    Task("gradient_penalty", "WGAN-GP's gradient penalty at random interpolates", (_G,),
         "One alpha per sample from minigan's rand; the inner gradient needs create_graph."),
    # -- the engine -----------------------------------------------------------------------------------
    Task("backprop", "the backward pass: topological order and gradient accumulation",
         ("tests/test_autograd.py",),
         "_topological_order must be iterative (no recursion) and raise the retain_graph error "
         "(node._saved()) on a released node; _run_backward sums the gradients reaching each node."),
)

BY_ID = {task.id: task for task in TASKS}


def get(task_id: str) -> Task:
    """The task called ``task_id``, or a ValueError listing them all."""
    if task_id not in BY_ID:
        raise ValueError(f"unknown task {task_id!r}; the tasks are: {', '.join(BY_ID)}")
    return BY_ID[task_id]


def parse_ops(text) -> list:
    """``"relu, conv2d"`` (or a list) as known task ids, in the order given, without repeats."""
    items = text.split(",") if isinstance(text, str) else list(text)
    ids = []
    for item in (i.strip() for i in items):
        if item and item not in ids:
            get(item)
            ids.append(item)
    return ids
