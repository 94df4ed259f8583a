"""The catalogue of assignable tasks: one per op (its forward and backward), optimizer, GAN game,
and the backward pass itself; and how each task's tests share its points.

Each task id ``t`` has solution regions ``### BEGIN SOLUTION t`` in the reference source (see
:mod:`minigan.course.markers`) and tests marked ``op_t`` (registered in setup.cfg), found in
the test files listed here: ``pytest -m op_t <files>`` runs the task's tests. The marks live in
the test files themselves (decorators, ``pytest.param(..., marks=...)``), so no conftest hook is
needed to map a task to its tests.

A task's points are split between its *parts* (:class:`Part`), each shared evenly among the
part's tests. An op's parts are ``forward`` (tests that never call backward), ``backward``
(first derivatives) and ``second_order`` (gradgradcheck, create_graph), which counts only in
proportion to the first derivatives passed: the derivative of a wrong gradient earns nothing.
Which test belongs to which part is read from the test's code (:mod:`minigan.course.inspection`)
unless the task names it in ``test_parts``.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Part:
    name: str
    weight: float  # share of the task's points (a task's weights sum to 1)
    about: str  # what its tests check, for people
    needs: str = ""  # another part: this one counts in proportion to that one's tests passed


FORWARD = Part("forward", 0.5, "the values (tests that never call backward)")
BACKWARD = Part("backward", 0.35, "the first derivatives")
SECOND_ORDER = Part("second_order", 0.15, "the second derivatives (backward written in Tensor ops)",
                    needs="backward")
OP_PARTS = (FORWARD, BACKWARD, SECOND_ORDER)
UPDATE = (Part("update", 1.0, "the parameters after each step"),)


@dataclass(frozen=True)
class Task:
    id: str
    title: str  # what the task is about, for people
    tests: tuple  # test files (relative to the repository root) that hold the op_<id> tests
    notes: str = ""  # what the rest of the library expects of the student's code
    parts: tuple = OP_PARTS
    test_parts: tuple = ()  # (test function name, part name) pairs that override the automatic split
    default_part: str = ""  # the part of a test that nothing else places

    @property
    def marker(self) -> str:
        return f"op_{self.id}"

    def part(self, name: str) -> Part:
        return next(p for p in self.parts if p.name == name)

    def part_of(self, function: str, calls_backward: bool, second_order: bool) -> str:
        """The part a test (its function's name, and what its code calls) counts for."""
        explicit = dict(self.test_parts).get(function)
        if explicit:
            return explicit
        names = [p.name for p in self.parts]
        if len(names) == 1:
            return names[0]
        if "second_order" in names and second_order:
            return "second_order"
        if "backward" in names and calls_backward:
            return "backward"
        if "forward" in names:
            return "forward"
        if self.default_part:
            return self.default_part
        raise ValueError(f"task {self.id}: test {function} belongs to none of its parts {names}: name its part in "
                         f"the task's test_parts (minigan/course/tasks.py)")


_E, _R, _L = "tests/test_elementwise.py", "tests/test_reduce.py", "tests/test_linalg.py"
_C, _N, _S = "tests/test_conv.py", "tests/test_norm.py", "tests/test_loss.py"
_A, _O, _G = "tests/test_activation.py", "tests/test_optim.py", "tests/test_gan.py"
_P, _PS, _IN = "tests/test_padding.py", "tests/test_pixel_shuffle.py", "tests/test_instance_norm.py"
_BROADCAST = "Sum each input's gradient back to the input's shape with sum_to (broadcasting)."
_GAN = "Compute it from the discriminator's logits with softplus (exact for any logit)."
_LOSS_PARTS = (Part("forward", 0.5, "the loss values"),
               Part("backward", 0.5, "the gradients that flow from it (so: Tensor ops only)"))

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
         "The public matmul turns 1-D operands into matrices first: forward sees >= 2-D arrays. "
         "backward: dA = dY B^T and dB = A^T dY, each summed back to its operand's shape with sum_to "
         "(the batch axes broadcast); compute them with matmul and _mT so that they stay differentiable."),
    # -- convolution ------------------------------------------------------------------------------
    Task("im2col", "every kernel window of an (N, C, H, W) image as a column", (_C,),
         "Returns (C*kh*kw, Ho*Wo*N), rows ordered (c, i, j) and columns (y, x, n); no Python loop over pixels. "
         "With reuse=True, write into _empty(x, shape, \"columns\") (a buffer kept between calls) instead of a new "
         "array.",
         parts=(Part("forward", 1.0, "the columns"),)),
    Task("col2im", "the adjoint of im2col: add each column back where im2col took it", (_C,),
         "Returns (N, C, H, W); loops over the kh*kw kernel offsets at most.",
         parts=(Part("forward", 1.0, "the image"),)),
    Task("conv2d", "2-D cross-correlation by im2col and one matrix product", (_C,),
         "forward: conv_output_size gives each output side; im2col(x, kernel, stride, padding, dilation) the "
         "columns; one matmul with the weight as an (O, C*kh*kw) matrix. backward is made of the other two conv "
         "Functions: dx = ConvTranspose2d(stride, padding, dilation, output_padding)(gy, weight) and "
         "dW = Conv2dGradW(stride, padding, dilation, kernel)(x, gy). With a stride, several input sizes give the "
         "same output size: the helper _missing_rows(x.shape[2:], gy.shape[2:], kernel, stride, padding, dilation) "
         "is the output_padding that gives dx the shape of x back."),
    Task("conv_transpose2d", "transposed convolution (the adjoint of conv2d) by col2im", (_C,)),
    Task("conv2d_grad_w", "conv2d's weight gradient as a differentiable Function", (_C,),
         "It is bilinear in (x, dy): each of its gradients is another conv with ggw."),
    Task("batch_norm", "fused training-mode batch norm", (_N,),
         "forward must leave the batch statistics in self.mean and self.var (biased, per channel): "
         "batch_norm() updates the running statistics from them. backward with create_graph "
         "already differentiates the definition (_differentiable_backward); write the fused one "
         "(it may work on arrays, and returns Tensors)."),
    Task("instance_norm", "instance norm: each image's channels normalised by their own statistics", (_IN,),
         "Made of batch norm, not written anew: the batch of N images seen as one image of N C channels "
         "(reshape to (1, N C, spatial, 1)) is normalised by BatchNorm((0, 2, 3), eps), whose forward leaves the "
         "per-(image, channel) statistics in op.mean and op.var; weight and bias repeated per image "
         "(_repeat_per_image). The running statistics get the batch mean of the images' statistics "
         "(_update_running, with the spatial size as the count: PyTorch's unbiased rule). Without "
         "use_input_stats, every image by the running statistics: batch norm's evaluation mode. Its gradients, "
         "first and second, come from the ops it is made of."),
    # -- padding and resampling -------------------------------------------------------------------
    Task("pad", "padding in four modes (constant, reflect, replicate, circular), and its adjoint, the fold", (_P,),
         "Pad.forward pads by self.widths ((before, after) per axis, NumPy's order) in self.mode. Its backward is "
         "Fold, the adjoint: crop the middle, and add each border pixel's gradient onto the pixel it was copied from "
         "(_sources(size, before, after, mode) gives each output index's source); the fold's own backward is Pad "
         "again, so that second derivatives work. No Python loop over pixels: a border folds back as a slice."),
    Task("pixel_shuffle", "pixel shuffle and unshuffle: channels to pixels and back", (_PS,),
         "PixelShuffle: (..., C r^2, H, W) -> (..., C, H r, W r) with out[c, r y + i, r x + j] = in[c r^2 + i r + j, "
         "y, x], any number of leading axes; PixelUnshuffle is its inverse. Each one's backward is the other "
         "(a permutation's adjoint is its inverse)."),
    # -- activations and losses -------------------------------------------------------------------
    Task("relu", "max(x, 0)", (_A,), "The gradient at 0 is 0, as in PyTorch."),
    Task("leaky_relu", "x for x > 0, else negative_slope * x", (_A,),
         "The gradient at 0 is negative_slope; any slope, negative or above 1, must work."),
    Task("sigmoid", "1 / (1 + e^-x), never overflowing", (_A,),
         "backward gets the output back with self.saved_output() (save_output is set)."),
    Task("tanh", "hyperbolic tangent", (_A,)),
    Task("softplus", "log(1 + e^x), never overflowing (also behind logsigmoid)", (_A,)),
    Task("softmax", "softmax along one axis", (_A,)),
    Task("log_softmax", "log-softmax along one axis", (_A,)),
    Task("binary_cross_entropy", "BCE on probabilities, each log clamped at -100 as in PyTorch", (_S,),
         "backward: dl/dp = (p - t) / (p (1 - p)) with the denominator kept >= 1e-12; no gradient for t."),
    # -- optimizers ---------------------------------------------------------------------------------
    Task("sgd", "SGD with momentum, dampening, Nesterov and weight decay", (_O,),
         "Update p.array in place; never write into grad (it may share memory). Keep state in `state`.",
         parts=UPDATE),
    Task("adam", "Adam with PyTorch's bias corrections and weight decay", (_O,),
         "state holds step, exp_avg and exp_avg_sq (the names state_dict() saves). "
         "Update p.array in place; never write into grad (it may share memory).",
         parts=(Part("state", 0.3, "the moments kept in state (step, exp_avg, exp_avg_sq)"),
                Part("update", 0.7, "the parameters after each step (the bias-corrected step)")),
         test_parts=(("test_adam_state_holds_the_moments", "state"),
                     ("test_state_dict_resumes_training_exactly", "state")), default_part="update"),
    Task("rmsprop", "RMSprop with momentum and weight decay", (_O,),
         "state holds step, square_avg and, with momentum, momentum_buffer.", parts=UPDATE),
    # -- GAN games ---------------------------------------------------------------------------------
    Task("minimax_loss", "the minimax game: D's loss and the saturating G loss", (_G,), _GAN, parts=_LOSS_PARTS),
    Task("non_saturating_loss", "the non-saturating G loss", (_G,), _GAN, parts=_LOSS_PARTS),
    Task("wasserstein_loss", "the Wasserstein critic and generator losses", (_G,), parts=_LOSS_PARTS),
    Task("lsgan_loss", "the least-squares GAN losses", (_G,), parts=_LOSS_PARTS),
    Task("hinge_loss", "the hinge discriminator loss", (_G,), parts=_LOSS_PARTS),
    Task("gradient_penalty", "WGAN-GP's gradient penalty at random interpolates", (_G,),
         "One alpha per sample from minigan's rand; the inner gradient needs create_graph.",
         parts=(Part("forward", 0.5, "the penalty's value"), Part("backward", 0.5, "its gradient"))),
    # -- the engine -----------------------------------------------------------------------------------
    Task("backprop", "the backward pass: topological order and gradient accumulation",
         ("tests/test_autograd.py",),
         "_topological_order must be iterative (no recursion: a graph may be 20,000 nodes deep), put every "
         "node after all of its parents (a node reached by a long and a short path too: breadth-first order is "
         "not enough) and raise the retain_graph error (node._saved()) on a released node; _run_backward sums "
         "the gradients reaching each node.",
         parts=(Part("order", 0.45, "the order of the nodes: after every path to them, without recursion, never "
                                   "through a freed node"),
                Part("accumulation", 0.45, "the sums of the gradients that reach a node by several edges"),
                Part("bookkeeping", 0.1, "what the pass must keep doing: freeing, retaining, detaching, skipping")),
         test_parts=tuple((name, "order") for name in (
             "test_backward_visits_a_node_after_every_path_to_it", "test_backward_through_random_graphs_gradcheck",
             "test_long_chain_needs_no_recursion", "test_second_backward_through_freed_graph_says_retain_graph",
             "test_a_second_backward_through_ops_that_save_nothing_says_retain_graph",
             "test_grad_of_grad_gives_second_derivative", "test_backward_through_a_residual_block")) + tuple(
             (name, "accumulation") for name in (
             "test_backward_accumulates_into_leaves", "test_a_leaf_used_twice_gets_both_gradients",
             "test_gradients_reaching_a_node_by_several_edges_are_summed", "test_grad_with_respect_to_a_non_leaf",
             "test_leaf_grads_do_not_share_memory", "test_backward_with_create_graph_keeps_grad_differentiable",
             "test_non_scalar_backward_needs_grad")) + tuple((name, "bookkeeping") for name in (
             "test_grad_returns_without_touching_dot_grad", "test_grad_unused_input_raises_or_gives_none",
             "test_grad_skips_branches_that_lead_to_no_input", "test_retain_graph_allows_a_second_backward",
             "test_backward_frees_saved_arrays", "test_intermediate_arrays_not_needed_by_backward_are_not_kept",
             "test_grad_through_detach_stops"))),
)

BY_ID = {task.id: task for task in TASKS}

GENERAL_NOTES = (
    "backward receives the upstream gradient as a Tensor and returns Tensors. Compute it with Tensor ops on "
    "gy, self.saved_input(i) and self.saved_output(), so that it is itself differentiable: gradients of "
    "gradients (gradgradcheck, the WGAN-GP penalty) go through it. Constants such as a mask may be arrays "
    "wrapped in Tensor(...); anything computed from the inputs or gy must stay in the graph.",
    "Only the code between the lines `### BEGIN YOUR CODE <task>` and `### END YOUR CODE` is graded, each task "
    "with the reference implementation of everything else: put any helper or import you need between those "
    "lines, and keep the two lines.",
)


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
