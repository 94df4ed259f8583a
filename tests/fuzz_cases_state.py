"""Bad inputs to what holds state (batch norm, layers, modules, optimizers, autograd), to the GAN
losses, the metrics, and across devices; each failed call must leave that state as it was."""
import numpy as np

import minigan
import minigan.nn as nn
from minigan import functional as F
from minigan.gan import losses, variants
from minigan.gan.trainer import GANTrainer

from fuzz_harness import err, like_torch, ok, r, returns_normally, t

MODIFIED = "modified by an inplace operation"

# -- batch norm ------------------------------------------------------------------------------------------
N = "norm"


def bn1(features=3):
    minigan.manual_seed(0)
    return nn.BatchNorm1d(features)


def running(features=3):
    return minigan.zeros(features), minigan.ones(features)


err(N, "float64 input, float32 weights", lambda m: m(r(4, 3, dtype=np.float64)), TypeError, "batch_norm", "float64",
    "float32", setup=bn1)
err(N, "float64 input, float32 weights (functional)", lambda m, v: F.batch_norm(
    r(4, 3, dtype=np.float64), m, v, minigan.ones(3), minigan.zeros(3), training=True), TypeError, "batch_norm",
    "float64", setup=running)
err(N, "input on sim, layer on the CPU", lambda m: m(r(4, 3, device="sim")), RuntimeError, "batch_norm", "sim", "cpu",
    setup=bn1)
err(N, "one value per channel", lambda m: m(r(1, 3)), ValueError, "batch_norm", "(1, 3)", setup=bn1)
err(N, "3-D input to BatchNorm1d", lambda m: m(r(4, 3, 2)), ValueError, "BatchNorm1d", "(4, 3, 2)", setup=bn1)
err(N, "channels", lambda m: m(r(4, 5)), ValueError, "BatchNorm1d", "3", "(4, 5)", setup=bn1)
err(N, "int input", lambda m: m(t(np.ones((4, 3), np.int64))), TypeError, "batch_norm", "int64", setup=bn1)
err(N, "a list", lambda m: m([[1.0, 2.0, 3.0]]), TypeError, "BatchNorm1d", "list", setup=bn1)
err(N, "evaluation without running statistics", lambda: F.batch_norm(r(4, 3), None, None), ValueError,
    "batch_norm", "running")
err(N, "running_mean shape", lambda: F.batch_norm(r(4, 3), minigan.zeros(2), minigan.ones(3)), ValueError,
    "batch_norm", "running_mean", "(2,)")
err(N, "weight a list", lambda m, v: F.batch_norm(r(4, 3), m, v, [1.0] * 3, training=True), TypeError,
    "batch_norm", "weight", "list", setup=running)
err(N, "running_var float64", lambda m: F.batch_norm(r(4, 3), m, minigan.ones(3, dtype=np.float64), training=True),
    TypeError, "batch_norm", "running_var", "float64", setup=lambda: minigan.zeros(3))
err(N, "dropout p = 1.5", lambda: F.dropout(r(3), 1.5), ValueError, "dropout", "1.5")
err(N, "dropout p = NaN", lambda: F.dropout(r(3), float("nan")), ValueError, "dropout", "nan")
err(N, "dropout p = 'a'", lambda: F.dropout(r(3), "a"), ValueError, "dropout", "'a'")
err(N, "dropout of ints", lambda: F.dropout(t([1, 2, 3]), 0.5), TypeError, "dropout", "int64")
ok(N, "batch norm of NaN", lambda: F.batch_norm(t([[np.nan], [1.0]]), None, None, training=True),
   like_torch(lambda torch: torch.nn.functional.batch_norm(torch.tensor([[np.nan], [1.0]]), None, None,
                                                           training=True)), needs_torch=True)

# -- autograd and in-place writes ----------------------------------------------------------------------------
G = "autograd"


def leaf(*shape):
    return r(*shape, requires_grad=True)


err(G, "backward of a (2, 3) output", lambda x: (x * 2.0).backward(), RuntimeError, "backward", "(2, 3)",
    setup=lambda: leaf(2, 3))
err(G, "backward grad shape", lambda x: (x * 2.0).backward(minigan.ones(3, 2)), ValueError, "backward", "(3, 2)",
    "(2, 3)", setup=lambda: leaf(2, 3))
err(G, "backward grad a list", lambda x: (x * 2.0).backward([1.0]), TypeError, "backward", "list",
    setup=lambda: leaf(2))
err(G, "backward grad dtype", lambda x: (x * 2.0).backward(minigan.ones(2, dtype=np.float64)), TypeError,
    "backward", "float64", "float32", setup=lambda: leaf(2))
err(G, "backward of a constant", lambda: r(2).sum().backward(), RuntimeError, "backward", "require grad")
err(G, "grad of an input not requiring grad", lambda x: minigan.grad((x * 2.0).sum(), r(2)), RuntimeError, "grad",
    "input 0", setup=lambda: leaf(2))
err(G, "grad of an unused input", lambda x: minigan.grad((x * 2.0).sum(), [x, leaf(2)]), RuntimeError, "grad",
    "allow_unused", setup=lambda: leaf(2))
err(G, "grad with two grad_outputs for one output", lambda x: minigan.grad(x * 2.0, x, [minigan.ones(2)] * 2),
    ValueError, "grad", "2 grad_outputs", setup=lambda: leaf(2))
err(G, "grad of a number", lambda x: minigan.grad(1.0, x), TypeError, "grad", "float", setup=lambda: leaf(2))
err(G, "requires_grad_ on ints", lambda: t([1, 2]).requires_grad_(), TypeError, "requires_grad", "int64")
err(G, "requires_grad_ on a non-leaf", lambda x: (x * 2.0).requires_grad_(), RuntimeError, "requires_grad_", "leaf",
    setup=lambda: leaf(2))


def _backward_once():
    x = leaf(2)
    y = (x * x).sum()
    y.backward()
    return x, y


err(G, "backward twice", lambda x, y: y.backward(), RuntimeError, "second time", "retain_graph", setup=_backward_once)

W = "in-place"


def gan():
    """G and D, D's optimizer, and G's loss computed through D (the forward of a G step)."""
    minigan.manual_seed(0)
    G = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 3))
    D = nn.Sequential(nn.Linear(3, 8), nn.LeakyReLU(0.2), nn.Linear(8, 1))
    loss = losses.non_saturating_g_loss(D(G(minigan.randn(4, 2))))
    return G, D, minigan.optim.Adam(D.parameters()), loss


def _adam_step(D, opt):
    for p in D.parameters():
        p.grad = minigan.ones_like(p)
    opt.step()
    D.zero_grad()


def _written(write):
    def setup():
        G, D, opt, loss = gan()
        write(D, opt)  # an in-place write between G's forward and its backward
        return loss, G, D  # a failed backward changes none of them (no .grad lands on G)
    return setup


_backward = lambda loss, G, D: loss.backward()  # noqa: E731
err(W, "Adam step: the message", _backward, RuntimeError, MODIFIED, "[float32 (1, 8)] input 0 of MatMul",
    "version 2; expected version 1", setup=_written(_adam_step))
for _name, _write in (("Adam step", _adam_step),
                      ("SGD step", lambda D, opt: (D[2].weight.__setattr__("grad", minigan.ones_like(D[2].weight)),
                                                   minigan.optim.SGD([D[2].weight], lr=0.1).step())),
                      ("load_state_dict", lambda D, opt: D.load_state_dict(
                          {k: v * 0.5 for k, v in D.state_dict().items()})),
                      ("weight clipping", lambda D, opt: GANTrainer._clip_weights(list(D.parameters()), 0.01)),
                      ("Module.to(float64) and back", lambda D, opt: D.double().float()),
                      ("nn.init", lambda D, opt: nn.init.normal_(D[2].weight)),
                      ("optimizer load_state_dict, then step", lambda D, opt: (opt.load_state_dict(opt.state_dict()),
                                                                               _adam_step(D, opt)))):
    err(W, f"{_name} between forward and backward", _backward, RuntimeError, MODIFIED, "version",
        setup=_written(_write))
ok(W, "the right order: step, then forward and backward", lambda: _right_order(), returns_normally)


def _right_order():
    G, D, opt, _ = gan()
    _adam_step(D, opt)
    losses.non_saturating_g_loss(D(G(minigan.randn(4, 2)))).backward()


# -- layers and modules -----------------------------------------------------------------------------------
M = "nn"


def mlp():
    minigan.manual_seed(0)
    return nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3), nn.ReLU(), nn.Linear(3, 1))


err(M, "Linear(0, 3)", lambda: nn.Linear(0, 3), ValueError, "Linear", "in_features", "0")
err(M, "Linear(2.5, 3)", lambda: nn.Linear(2.5, 3), ValueError, "Linear", "2.5")
err(M, "Linear(True, 3)", lambda: nn.Linear(True, 3), ValueError, "Linear", "True")
err(M, "Linear on the wrong width", lambda m: m(r(4, 3)), ValueError, "linear", "(4, 3)", setup=mlp)
err(M, "Linear on float64", lambda m: m(r(4, 2, dtype=np.float64)), TypeError, "linear", "float64", setup=mlp)
err(M, "Conv2d kernel_size 0", lambda: nn.Conv2d(1, 1, 0), ValueError, "Conv2d", "kernel_size", "0")
err(M, "Conv2d stride 0", lambda: nn.Conv2d(1, 1, 3, stride=0), ValueError, "Conv2d", "stride", "0")
err(M, "Conv2d padding -1", lambda: nn.Conv2d(1, 1, 3, padding=-1), ValueError, "Conv2d", "padding", "-1")
err(M, "Conv2d dilation 0", lambda: nn.Conv2d(1, 1, 3, dilation=0), ValueError, "Conv2d", "dilation", "0")
err(M, "Conv2d groups 2", lambda: nn.Conv2d(2, 2, 3, groups=2), ValueError, "Conv2d", "groups")
err(M, "Conv2d kernel_size '3'", lambda: nn.Conv2d(1, 1, "3"), ValueError, "Conv2d", "kernel_size", "'3'")
err(M, "Conv2d 0 channels", lambda: nn.Conv2d(0, 1, 3), ValueError, "Conv2d", "in_channels", "0")
err(M, "ConvTranspose2d output_padding 2, stride 2", lambda: nn.ConvTranspose2d(1, 1, 3, stride=2, output_padding=2),
    ValueError, "ConvTranspose2d", "output_padding")
err(M, "BatchNorm2d(0)", lambda: nn.BatchNorm2d(0), ValueError, "BatchNorm2d", "num_features", "0")
err(M, "BatchNorm1d eps -1", lambda: nn.BatchNorm1d(3, eps=-1), ValueError, "BatchNorm1d", "eps", "-1")
err(M, "BatchNorm1d momentum 2", lambda: nn.BatchNorm1d(3, momentum=2), ValueError, "BatchNorm1d", "momentum", "2")
err(M, "Dropout(1.5)", lambda: nn.Dropout(1.5), ValueError, "Dropout", "1.5")
err(M, "LeakyReLU('a')", lambda: nn.LeakyReLU("a"), TypeError, "LeakyReLU", "'a'")
err(M, "Embedding(0, 3)", lambda: nn.Embedding(0, 3), ValueError, "Embedding", "num_embeddings", "0")
err(M, "Embedding index 5 of 5", lambda e: e(t([0, 5])), IndexError, "Embedding", "[0, 5)",
    setup=lambda: nn.Embedding(5, 2))
err(M, "Embedding index -1", lambda e: e(t([-1])), IndexError, "Embedding", "[0, 5)", setup=lambda: nn.Embedding(5, 2))
err(M, "Embedding float indices", lambda e: e(t([0.0])), TypeError, "Embedding", "float32",
    setup=lambda: nn.Embedding(5, 2))
err(M, "Unflatten into the wrong sizes", lambda: nn.Unflatten(1, (2, 2))(r(3, 5)), ValueError, "Unflatten", "(2, 2)")
err(M, "Module.to(int64)", lambda m: m.to(dtype=np.int64), TypeError, "Module.to", "int64", setup=mlp)
err(M, "Module.to('gpu')", lambda m: m.to("gpu"), ValueError, "gpu", setup=mlp)
err(M, "Module.to(0) without a GPU", lambda m: m.to(0), RuntimeError, "cuda", "CuPy", setup=mlp, needs_no_gpu=True)
err(M, "Module.to(dtype='U3')", lambda m: m.to(dtype="U3"), TypeError, "Module.to", "<U3", setup=mlp)


def _state_with(name, value):
    def act(m):
        state = m.state_dict()
        state[name] = value(state[name])
        return m.load_state_dict(state)
    return act


err(M, "load_state_dict complex", _state_with("0.weight", lambda v: v.numpy() + 1j), TypeError, "load_state_dict",
    "0.weight", "complex", setup=mlp)
err(M, "load_state_dict objects", _state_with("0.bias", lambda v: np.array([None] * 3)), TypeError, "load_state_dict",
    "0.bias", "object", setup=mlp)
err(M, "load_state_dict NaN into an int buffer", _state_with("1.num_batches_tracked", lambda v: np.array(np.nan)),
    RuntimeError, "1.num_batches_tracked", "NaN", "int64", setup=mlp)
err(M, "load_state_dict 2.5 into an int buffer", _state_with("1.num_batches_tracked", lambda v: np.array(2.5)),
    RuntimeError, "1.num_batches_tracked", "int64", setup=mlp)
err(M, "load_state_dict 1e30 into an int buffer", _state_with("1.num_batches_tracked", lambda v: np.array(1e30)),
    RuntimeError, "1.num_batches_tracked", "int64", setup=mlp)
err(M, "load_state_dict shape", _state_with("3.weight", lambda v: np.ones((3, 1), np.float32)), RuntimeError,
    "size mismatch for 3.weight", "(3, 1)", "(1, 3)", setup=mlp)
err(M, "load_state_dict strings", _state_with("3.bias", lambda v: "0.5"), TypeError, "load_state_dict", "3.bias",
    setup=mlp)
err(M, "load_state_dict missing key", lambda m: m.load_state_dict({"0.weight": m[0].weight.detach()}), RuntimeError,
    "Missing key", "0.bias", setup=mlp)
err(M, "load_state_dict of a list", lambda m: m.load_state_dict([1, 2]), TypeError, "state_dict", "list", setup=mlp)
ok(M, "load_state_dict from sim", lambda m: m.load_state_dict({k: v.to("sim") for k, v in m.state_dict().items()}),
   returns_normally, setup=mlp)
err(M, "register a Tensor as parameter", lambda m: m.register_parameter("w", r(2)), TypeError, "parameter", "'w'",
    setup=mlp)
err(M, "Sequential index 5", lambda m: m[5], IndexError, "Sequential", "5", setup=mlp)
err(M, "Sequential index 'a'", lambda m: m["a"], TypeError, "Sequential", "str", setup=mlp)
err(M, "Parameter of complex", lambda: nn.Parameter(np.ones(2, complex)), TypeError, "Parameter", "complex")
err(M, "Parameter of a list", lambda: nn.Parameter([1.0]), TypeError, "Parameter", "list")
err(M, "train('yes')", lambda m: m.train("yes"), TypeError, "train", "str", setup=mlp)
err(M, "MinibatchStdDev(0)", lambda: nn.MinibatchStdDev(0), ValueError, "MinibatchStdDev", "0")
err(M, "MinibatchDiscrimination input", lambda m: m(r(4, 3)), ValueError, "MinibatchDiscrimination", "(4, 3)",
    setup=lambda: nn.MinibatchDiscrimination(5, 2, 2))

# -- optimizers ---------------------------------------------------------------------------------------------
O = "optim"


def params():
    minigan.manual_seed(0)
    return [nn.Parameter(minigan.randn(2, 3)), nn.Parameter(minigan.randn(3))]


def stepped_adam():
    ps = params()
    opt = minigan.optim.Adam(ps)
    for p in ps:
        p.grad = minigan.ones_like(p)
    opt.step()
    return opt


for _opt, _kwargs, _words in (("Adam", dict(lr=-1), ("lr", "-1")), ("Adam", dict(lr="a"), ("lr", "'a'")),
                              ("Adam", dict(lr=float("nan")), ("lr", "nan")),
                              ("Adam", dict(lr=float("inf")), ("lr", "inf")),
                              ("Adam", dict(betas=(0.9,)), ("betas", "(0.9,)")),
                              ("Adam", dict(betas=(1.0, 0.9)), ("betas",)),
                              ("Adam", dict(betas=0.9), ("betas", "0.9")), ("Adam", dict(eps=-1), ("eps", "-1")),
                              ("Adam", dict(weight_decay=-0.1), ("weight_decay",)),
                              ("SGD", dict(momentum=-0.5), ("momentum", "-0.5")),
                              ("SGD", dict(nesterov=True), ("Nesterov",)), ("RMSprop", dict(alpha=-1), ("alpha", "-1")),
                              ("RMSprop", dict(momentum="a"), ("momentum", "'a'"))):
    err(O, f"{_opt}({_kwargs})", lambda ps, o=_opt, k=_kwargs: getattr(minigan.optim, o)(ps, **k), ValueError, _opt,
        *_words, setup=params)
err(O, "no parameters", lambda: minigan.optim.SGD([]), ValueError, "SGD", "empty")
err(O, "a single Tensor", lambda ps: minigan.optim.SGD(ps[0]), TypeError, "SGD", "single Tensor", setup=params)
err(O, "a non-leaf", lambda ps: minigan.optim.SGD([ps[0] * 2.0]), ValueError, "SGD", "leaf", setup=params)
err(O, "a tensor without grad", lambda: minigan.optim.SGD([r(2)]), ValueError, "SGD", "require", "(2,)")
err(O, "a parameter twice", lambda ps: minigan.optim.SGD([ps[0], ps[0]]), ValueError, "SGD", "twice", setup=params)
err(O, "an array", lambda: minigan.optim.SGD([np.ones(2)]), TypeError, "SGD", "ndarray")
err(O, "unknown group key", lambda ps: minigan.optim.SGD([{"params": ps, "lrr": 1}]), TypeError, "SGD", "lrr",
    setup=params)


def _grads(ps, last):
    ps[0].grad = minigan.ones_like(ps[0])
    ps[1].grad = last
    return ps


def adam_with_grads(last):
    def setup():
        ps = params()
        return minigan.optim.Adam(_grads(ps, last())), ps
    return setup


_step = lambda opt, ps: opt.step()  # noqa: E731
err(O, "step with a gradient of the wrong shape", _step, RuntimeError, "Adam", "(3,)", "(4,)",
    setup=adam_with_grads(lambda: minigan.ones(4)))
err(O, "step with a float64 gradient", _step, RuntimeError, "Adam", "float64",
    setup=adam_with_grads(lambda: minigan.ones(3, dtype=np.float64)))
err(O, "step with a gradient on sim", _step, RuntimeError, "Adam", "sim",
    setup=adam_with_grads(lambda: minigan.ones(3, device="sim")))
err(O, "step with an array for a gradient", _step, TypeError, "Adam", "ndarray",
    setup=adam_with_grads(lambda: np.ones(3)))


def _load(change):
    def act(opt):
        state = opt.state_dict()
        change(state)
        opt.load_state_dict(state)
    return act


def _set(path, value):
    def change(state):
        *keys, last = path
        target = state
        for key in keys:
            target = target[key]
        target[last] = value
    return change


err(O, "load a state of the wrong shape", _load(_set(("state", 0, "exp_avg"), minigan.zeros(3, 2))), ValueError,
    "Adam.load_state_dict", "exp_avg", "(3, 2)", "(2, 3)", setup=stepped_adam)
err(O, "load a state without exp_avg_sq", _load(lambda s: s["state"][1].pop("exp_avg_sq")), ValueError,
    "Adam.load_state_dict", "exp_avg_sq", setup=stepped_adam)
err(O, "load a group with lr -1", _load(_set(("param_groups", 0, "lr"), -1.0)), ValueError, "Adam", "lr", "-1",
    setup=stepped_adam)
err(O, "load two groups into one", _load(lambda s: s["param_groups"].append(dict(s["param_groups"][0]))), ValueError,
    "Adam.load_state_dict", "2", setup=stepped_adam)
err(O, "load a list", lambda opt: opt.load_state_dict([1]), TypeError, "Adam.load_state_dict", "list",
    setup=stepped_adam)
err(O, "load step -1", _load(_set(("state", 0, "step"), -1)), ValueError, "Adam.load_state_dict", "step", "-1",
    setup=stepped_adam)
err(O, "load step 1.5", _load(_set(("state", 0, "step"), 1.5)), ValueError, "Adam.load_state_dict", "step", "1.5",
    setup=stepped_adam)
err(O, "load a complex state", _load(_set(("state", 0, "exp_avg"), np.ones((2, 3), complex))), TypeError,
    "Adam.load_state_dict", "exp_avg", "complex", setup=stepped_adam)
err(O, "load an unknown hyper-parameter", _load(_set(("param_groups", 0, "lrr"), 1.0)), ValueError,
    "Adam.load_state_dict", "lrr", setup=stepped_adam)

# -- GAN losses and tools --------------------------------------------------------------------------------------
GN = "gan"


def critic():
    minigan.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.LeakyReLU(0.2), nn.Linear(4, 1))


err(GN, "gradient_penalty 1 fake against 8 real", lambda c: losses.gradient_penalty(c, r(8, 3), r(1, 3)), ValueError,
    "gradient_penalty", "(8, 3)", "(1, 3)", setup=critic)
err(GN, "gradient_penalty of lists", lambda c: losses.gradient_penalty(c, [[0.0] * 3], r(1, 3)), TypeError,
    "gradient_penalty", "list", setup=critic)
err(GN, "gradient_penalty of an empty batch", lambda c: losses.gradient_penalty(c, r(0, 3), r(0, 3)), ValueError,
    "gradient_penalty", "(0, 3)", setup=critic)
err(GN, "an unknown loss", lambda: losses.get_loss("foo"), ValueError, "foo")
err(GN, "n_critic 0", lambda c: GANTrainer(c, c, None, None, losses.get_loss("hinge"), n_critic=0), ValueError,
    "n_critic", "0", setup=critic)
for _name in ("minimax_d_loss", "wasserstein_d_loss", "lsgan_d_loss", "hinge_d_loss"):
    err(GN, f"{_name} of lists", lambda n=_name: getattr(losses, n)([1.0], [0.0]), TypeError, _name, "list")
for _name in ("minimax_g_loss", "non_saturating_g_loss", "wasserstein_g_loss", "lsgan_g_loss"):
    err(GN, f"{_name} of ints", lambda n=_name: getattr(losses, n)(t([1, 2])), TypeError, _name, "int64")
err(GN, "one_hot label 10 of 10", lambda: variants.one_hot(t([0, 10]), 10), IndexError, "one_hot", "[0, 10)")
err(GN, "one_hot label -1", lambda: variants.one_hot(t([-1]), 10), IndexError, "one_hot", "[0, 10)")
err(GN, "one_hot of floats", lambda: variants.one_hot(t([1.0]), 10), TypeError, "one_hot", "float32")
err(GN, "truncated_normal tau 0", lambda: variants_latent().truncated_normal(2, 3, 0.0), ValueError,
    "truncated_normal", "0")
err(GN, "lerp of unequal shapes", lambda: variants_latent().lerp(r(2, 3), r(2, 4), r(3)), ValueError, "lerp",
    "(2, 3)", "(2, 4)")
err(GN, "slerp of unequal shapes", lambda: variants_latent().slerp(r(2, 3), r(2, 4), r(3)), ValueError, "slerp",
    "(2, 3)", "(2, 4)")


def variants_latent():
    from minigan.gan import latent
    return latent


# -- metrics ---------------------------------------------------------------------------------------------------
MT = "metrics"
ID = np.eye(3)
err(MT, "frechet_distance with NaN", lambda: minigan.metrics.frechet_distance([np.nan, 0, 0], ID, [0, 0, 0], ID),
    ValueError, "frechet_distance", "mu1", "NaN")
err(MT, "frechet_distance shapes", lambda: minigan.metrics.frechet_distance([0, 0], ID, [0, 0, 0], ID), ValueError,
    "frechet_distance", "(2,)", "(3,)")
err(MT, "frechet_distance asymmetric", lambda: minigan.metrics.frechet_distance(
    [0, 0, 0], ID + np.triu(np.ones((3, 3)), 1), [0, 0, 0], ID), ValueError, "frechet_distance", "symmetric")
err(MT, "frechet_distance strings", lambda: minigan.metrics.frechet_distance("abc", ID, [0, 0, 0], ID), TypeError,
    "frechet_distance", "str")
err(MT, "feature_statistics of one sample", lambda: minigan.metrics.feature_statistics(np.ones((1, 3))), ValueError,
    "feature_statistics", "(1, 3)")
err(MT, "class_statistics 1-D", lambda: minigan.metrics.class_statistics(np.ones(3)), ValueError, "class_statistics",
    "(3,)")
err(MT, "evaluate_samples out of range", lambda: minigan.metrics.evaluate_samples(np.full((2, 1, 28, 28), 3.0,
                                                                                          np.float32)),
    ValueError, "evaluate_samples", "[-1, 1]")
err(MT, "evaluate_samples shape", lambda: minigan.metrics.evaluate_samples(np.zeros((2, 28, 28), np.float32)),
    ValueError, "evaluate_samples", "(2, 28, 28)")

# -- devices (sim is the strict stand-in for a GPU) ---------------------------------------------------------------
D = "devices"
CPU2, SIM2 = (lambda: r(2)), (lambda: r(2, device="sim"))
for _name, _fn in (("add", lambda: CPU2() + SIM2()), ("mul", lambda: SIM2() * CPU2()), ("div", lambda: CPU2() / SIM2()),
                   ("maximum", lambda: F.maximum(CPU2(), SIM2())), ("lt", lambda: CPU2() < SIM2()),
                   ("matmul", lambda: r(2, 2) @ r(2, 2, device="sim")),
                   ("concatenate", lambda: F.concatenate([CPU2(), SIM2()])),
                   ("where", lambda: F.where(t([True, False]), CPU2(), SIM2())),
                   ("mse_loss", lambda: F.mse_loss(CPU2(), SIM2())),
                   ("binary_cross_entropy", lambda: F.binary_cross_entropy(t([0.5, 0.5], device="sim"), t([0.0, 1.0]))),
                   ("cross_entropy", lambda: F.cross_entropy(r(2, 3, device="sim"), t([0, 1]))),
                   ("conv2d", lambda: F.conv2d(r(1, 1, 3, 3), r(1, 1, 2, 2, device="sim"))),
                   ("getitem", lambda: CPU2()[t([0], device="sim")])):
    err(D, f"{_name} of cpu and sim", _fn, RuntimeError, _name, "cpu", "sim")
err(D, "a Linear on the CPU fed from sim", lambda m: m(r(4, 2, device="sim")), RuntimeError, "cpu", "sim", setup=mlp)
err(D, "Device('cuda:x')", lambda: minigan.Device("cuda:x"), ValueError, "cuda:x")
err(D, "Device('sim:0')", lambda: minigan.Device("sim:0"), ValueError, "sim:0")
err(D, "to(1.5)", lambda: r(2).to(1.5), TypeError, "device", "float")
ok(D, "Device(1) is cuda:1", lambda: str(minigan.Device(1)), lambda s: _equal(s, "cuda:1"))
ok(D, "Device('cuda', 2) is cuda:2", lambda: str(minigan.Device("cuda", 2)), lambda s: _equal(s, "cuda:2"))
ok(D, "to sim and back", lambda: r(2, 3).to("sim").to("cpu"), like_torch(
    lambda torch: torch.tensor(np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32))), needs_torch=True)
ok(D, "randn on sim makes no host transfer", lambda: _transfers(lambda: minigan.randn(3, device="sim")),
   lambda n: _equal(n, {"to_host": 0, "to_device": 0}))


def _equal(got, want):
    assert got == want, f"{got!r}, expected {want!r}"


def _transfers(fn):
    minigan.sim.reset_transfers()
    fn()
    return dict(minigan.sim.transfers)
