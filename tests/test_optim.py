"""minigan.optim: SGD, Adam and RMSprop by hand, against PyTorch, and across checkpoints."""
import numpy as np
import pytest

import minigan
from minigan import functional as F
from minigan import nn, optim, sim

from helpers import gamma, op_params

TORCH_REASON = "PyTorch is the oracle for the optimizers' update rules"


def scalar(value=1.0, device="cpu"):
    return nn.Parameter(minigan.tensor(value, dtype="float64", device=device))


def two_steps_on_square(make, p0=1.0):
    """Minimise p^2 (gradient 2p) for two steps; returns p after each."""
    p = scalar(p0)
    opt = make([p])
    values = []
    for _ in range(2):
        opt.zero_grad()
        (p * p).backward()
        opt.step()
        values.append(p.item())
    return values


# -- by hand, two steps on p^2 from p = 1 --------------------------------------------------------
@pytest.mark.op_sgd
def test_sgd_by_hand():
    # p1 = 1 - 0.1 * 2 = 0.8; p2 = 0.8 - 0.1 * 1.6 = 0.64
    assert two_steps_on_square(lambda ps: optim.SGD(ps, lr=0.1)) == pytest.approx([0.8, 0.64])
    # weight decay 0.5: g = 2p + 0.5p = 2.5p, p <- 0.75 p
    assert two_steps_on_square(lambda ps: optim.SGD(ps, lr=0.1, weight_decay=0.5)) == pytest.approx([0.75, 0.5625])


@pytest.mark.op_sgd
def test_sgd_momentum_by_hand():
    # buf1 = g1 = 2, p1 = 0.8; g2 = 1.6, buf2 = 0.9 * 2 + 1.6 = 3.4, p2 = 0.8 - 0.34
    assert two_steps_on_square(lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9)) == pytest.approx([0.8, 0.46])
    # dampening 0.5 (not applied to the first buffer): buf2 = 1.8 + 0.5 * 1.6 = 2.6
    assert two_steps_on_square(lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, dampening=0.5)) == \
        pytest.approx([0.8, 0.54])
    # Nesterov: step = g + 0.9 buf: 2 + 1.8 = 3.8 -> p1 = 0.62; g2 = 1.24, buf2 = 1.8 + 1.24 = 3.04,
    # step = 1.24 + 2.736 = 3.976 -> p2 = 0.62 - 0.3976
    assert two_steps_on_square(lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True)) == \
        pytest.approx([0.62, 0.2224])


def adam_by_hand(lr, beta1, beta2, eps, weight_decay=0.0, steps=2):
    """The paper's Adam with bias-corrected moments, in plain Python."""
    p, m, v, out = 1.0, 0.0, 0.0, []
    for t in range(1, steps + 1):
        g = 2 * p + weight_decay * p
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        m_hat, v_hat = m / (1 - beta1 ** t), v / (1 - beta2 ** t)
        p -= lr * m_hat / (v_hat ** 0.5 + eps)
        out.append(p)
    return out


@pytest.mark.op_adam
def test_adam_by_hand():
    # step 1: m = 0.2, v = 0.004, m_hat = 2, v_hat = 4, p1 = 1 - 0.1 * 2 / (2 + eps)
    got = two_steps_on_square(lambda ps: optim.Adam(ps, lr=0.1))
    assert got[0] == pytest.approx(1 - 0.1 * 2 / (2 + 1e-8), rel=1e-12)
    assert got == pytest.approx(adam_by_hand(0.1, 0.9, 0.999, 1e-8), rel=1e-12)
    # a large eps shows where it goes: after the bias-corrected sqrt(v_hat)
    got = two_steps_on_square(lambda ps: optim.Adam(ps, lr=0.1, betas=(0.5, 0.9), eps=0.5, weight_decay=0.2))
    assert got == pytest.approx(adam_by_hand(0.1, 0.5, 0.9, 0.5, weight_decay=0.2), rel=1e-12)
    assert got[0] == pytest.approx(1 - 0.1 * 2.2 / (2.2 + 0.5), rel=1e-12)


@pytest.mark.op_rmsprop
def test_rmsprop_by_hand():
    # v1 = 0.01 * 4 = 0.04, p1 = 1 - 0.01 * 2 / 0.2 = 0.9; v2 = 0.99 * 0.04 + 0.01 * 1.8^2 = 0.072
    p2 = 0.9 - 0.01 * 1.8 / (0.072 ** 0.5 + 1e-8)
    assert two_steps_on_square(lambda ps: optim.RMSprop(ps, lr=0.01)) == pytest.approx([0.9, p2], rel=1e-7)
    # momentum 0.5: buf1 = 2 / 0.2 = 10 -> p1 = 0.9; buf2 = 5 + 1.8 / sqrt(0.072)
    p2 = 0.9 - 0.01 * (5 + 1.8 / (0.072 ** 0.5 + 1e-8))
    got = two_steps_on_square(lambda ps: optim.RMSprop(ps, lr=0.01, momentum=0.5))
    assert got == pytest.approx([0.9, p2], rel=1e-7)
    # a large eps shows where it goes: after the sqrt. v1 = 0.04 -> p1 = 1 - 0.01 * 2 / (0.2 + 0.5)
    assert two_steps_on_square(lambda ps: optim.RMSprop(ps, lr=0.01, eps=0.5))[0] == pytest.approx(1 - 0.02 / 0.7)


# -- against PyTorch ---------------------------------------------------------------------------------
CONFIGS = {
    "sgd": ("SGD", dict(lr=0.1)),
    "sgd_momentum_decay": ("SGD", dict(lr=0.05, momentum=0.9, weight_decay=0.01)),
    "sgd_nesterov_dampening": ("SGD", dict(lr=0.05, momentum=0.8, nesterov=True)),
    "sgd_dampening": ("SGD", dict(lr=0.05, momentum=0.8, dampening=0.3)),
    "adam": ("Adam", dict(lr=0.01)),
    "adam_dcgan_decay": ("Adam", dict(lr=2e-3, betas=(0.5, 0.999), weight_decay=0.1)),
    "adam_wgan_gp": ("Adam", dict(lr=1e-3, betas=(0.0, 0.9), eps=1e-6)),
    "rmsprop": ("RMSprop", dict(lr=0.01)),
    "rmsprop_momentum_decay": ("RMSprop", dict(lr=0.005, alpha=0.9, eps=1e-6, weight_decay=0.1, momentum=0.9)),
}
TASK_OF = {config: name.lower() for config, (name, _) in CONFIGS.items()}  # the course task of each


def small_model():
    return nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))


def training_grads(model, step):
    """Fill .grad from an MSE loss on a fixed random batch (gradients depend on the weights)."""
    data = np.random.default_rng(step)
    x = minigan.tensor(data.standard_normal((5, 3)).astype(np.float32))
    target = minigan.tensor(data.standard_normal((5, 2)).astype(np.float32))
    model.zero_grad()
    F.mse_loss(model(x), target).backward()


@pytest.mark.parametrize("config", op_params(CONFIGS, TASK_OF))
def test_matches_pytorch_for_five_steps(config):
    torch = pytest.importorskip("torch", reason=TORCH_REASON)
    name, kwargs = CONFIGS[config]
    model = small_model()
    unused = nn.Parameter(minigan.ones(2))  # never gets a gradient: both must leave it alone
    twin = [torch.from_numpy(p.numpy()).requires_grad_() for p in model.parameters()]
    twin_unused = torch.ones(2, requires_grad=True)
    ours = getattr(optim, name)([{"params": list(model.parameters())[:2]},
                                 {"params": list(model.parameters())[2:] + [unused], "lr": kwargs["lr"] / 2}],
                                **kwargs)
    theirs = getattr(torch.optim, name)([{"params": twin[:2]}, {"params": twin[2:] + [twin_unused],
                                                               "lr": kwargs["lr"] / 2}], **kwargs)
    for step in range(5):
        training_grads(model, step)
        for p, t in zip(model.parameters(), twin):
            t.grad = torch.from_numpy(p.grad.numpy())
        ours.step()
        theirs.step()
        for p, t in zip(model.parameters(), twin):
            np.testing.assert_allclose(p.numpy(), t.detach().numpy(), rtol=1e-5, atol=1e-6, err_msg=f"step {step}")
    np.testing.assert_array_equal(unused.numpy(), 1)
    assert unused not in ours.state and len(ours.state) == len(theirs.state)


# -- behaviour ------------------------------------------------------------------------------------
@pytest.mark.parametrize("make", [lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9),
                                  lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.1),
                                  lambda ps: optim.Adam(ps), lambda ps: optim.Adam(ps, weight_decay=0.1),
                                  lambda ps: optim.RMSprop(ps, momentum=0.5),
                                  lambda ps: optim.RMSprop(ps, weight_decay=0.1, momentum=0.5)],
                         ids=["sgd", "sgd_decay", "adam", "adam_decay", "rmsprop", "rmsprop_decay"])
def test_step_never_writes_into_grads_that_share_memory(make):
    a, b = scalar(1.0), scalar(-2.0)
    shared = minigan.tensor(0.5, dtype="float64")
    a.grad = b.grad = shared
    reference_a, reference_b = scalar(1.0), scalar(-2.0)
    reference_a.grad, reference_b.grad = minigan.tensor(0.5, dtype="float64"), minigan.tensor(0.5, dtype="float64")
    opt, reference = make([a, b]), make([reference_a, reference_b])
    for _ in range(2):
        opt.step()
        reference.step()
    assert shared.item() == 0.5
    assert (a.item(), b.item()) == (reference_a.item(), reference_b.item())


def test_state_lives_on_the_parameters_device_and_steps_make_no_transfers():
    model = small_model().to("sim")
    x = minigan.tensor(np.ones((2, 3), np.float32), device="sim")
    opts = [optim.SGD(model.parameters(), lr=0.1, momentum=0.9), optim.Adam(model.parameters()),
            optim.RMSprop(model.parameters(), momentum=0.9)]
    sim.reset_transfers()
    for opt in opts:
        opt.zero_grad()
        model(x).sum().backward()
        opt.step()
        opt.step()
    assert sim.transfers == {"to_host": 0, "to_device": 0}
    for opt in opts:
        for state in opt.state.values():
            assert all(minigan.backend.device_of(v) == "sim" for v in state.values() if not isinstance(v, int))
    assert all(p.device == "sim" for p in model.parameters())


def test_zero_grad_and_closure():
    p = scalar(3.0)
    opt = optim.SGD([p], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = p * p
        loss.backward()
        return loss

    assert opt.step(closure).item() == 9.0
    assert p.item() == pytest.approx(3.0 - 0.1 * 6.0)
    opt.zero_grad()
    assert p.grad is None


def test_a_group_with_zero_learning_rate_stays_put():
    frozen, moving = scalar(1.0), scalar(1.0)
    opt = optim.Adam([{"params": [frozen], "lr": 0.0}, {"params": moving}], lr=0.1)
    assert [g["lr"] for g in opt.param_groups] == [0.0, 0.1]
    assert opt.param_groups[1]["betas"] == (0.9, 0.999)
    for p in (frozen, moving):
        p.grad = minigan.tensor(1.0, dtype="float64")
    opt.step()
    assert frozen.item() == 1.0 and moving.item() < 1.0


def test_constructor_errors():
    p = scalar()
    with pytest.raises(ValueError, match="SGD got an empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="got a single Tensor \\(wrap it in a list\\)"):
        optim.SGD(p, lr=0.1)
    with pytest.raises(ValueError, match="SGD: invalid lr -1"):
        optim.SGD([p], lr=-1)
    with pytest.raises(ValueError, match="Nesterov momentum needs momentum > 0"):
        optim.SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="Adam: invalid betas \\(0.9, 1.0\\)"):
        optim.Adam([p], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="RMSprop: invalid alpha -0.5"):
        optim.RMSprop([p], alpha=-0.5)
    with pytest.raises(ValueError, match="leaf Tensors that require grad"):
        optim.Adam([p * 2.0])
    with pytest.raises(ValueError, match="appears twice"):
        optim.Adam([{"params": [p]}, {"params": [p]}])
    with pytest.raises(TypeError, match="unknown hyper-parameter\\(s\\) \\['momentum'\\]"):
        optim.Adam([{"params": [p], "momentum": 0.9}])


def test_a_gradient_of_the_wrong_shape_is_refused():
    p = scalar()
    p.grad = minigan.zeros(2, dtype="float64")
    with pytest.raises(RuntimeError, match="Adam: a parameter of shape \\(\\), float64 on cpu \\(group 0\\) "
                                           "has a gradient of shape \\(2,\\)"):
        optim.Adam([p]).step()


# -- checkpoints ---------------------------------------------------------------------------------------
def snapshot(state_dict):
    """A deep copy of an optimizer or model state_dict (its Tensors share memory with the live state)."""
    if isinstance(state_dict, dict):
        return {k: snapshot(v) for k, v in state_dict.items()}
    if isinstance(state_dict, list):
        return [snapshot(v) for v in state_dict]
    return minigan.tensor(state_dict) if isinstance(state_dict, minigan.Tensor) else state_dict


@pytest.mark.parametrize("config", op_params(["sgd_momentum_decay", "adam_dcgan_decay", "rmsprop_momentum_decay"],
                                              TASK_OF))
def test_state_dict_resumes_training_exactly(config):
    name, kwargs = CONFIGS[config]
    model = small_model()
    opt = getattr(optim, name)(model.parameters(), **kwargs)
    for step in range(3):
        training_grads(model, step)
        opt.step()
    saved_model, saved_opt = snapshot(model.state_dict()), snapshot(opt.state_dict())
    for step in range(3, 5):
        training_grads(model, step)
        opt.step()

    resumed = small_model()
    resumed.load_state_dict(saved_model)
    resumed_opt = getattr(optim, name)(resumed.parameters(), lr=123.0)  # hyper-parameters come from the checkpoint
    resumed_opt.load_state_dict(saved_opt)
    assert resumed_opt.param_groups[0]["lr"] == kwargs["lr"]
    for step in range(3, 5):
        training_grads(resumed, step)
        resumed_opt.step()
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(resumed.state_dict()[k].numpy(), v.numpy(), err_msg=k)


def test_state_dict_format_is_plain_and_indexed_like_pytorch():
    model = small_model()
    opt = optim.Adam([{"params": [model[0].weight, model[0].bias]}, {"params": model[2].parameters(), "lr": 0.1}])
    training_grads(model, 0)
    model[2].bias.grad = None  # no state for a parameter never stepped
    opt.step()
    state = opt.state_dict()
    assert set(state) == {"state", "param_groups"}
    assert sorted(state["state"]) == [0, 1, 2]
    assert state["state"][0]["step"] == 1 and isinstance(state["state"][0]["step"], int)
    assert isinstance(state["state"][0]["exp_avg"], minigan.Tensor)
    assert state["state"][0]["exp_avg"].shape == (4, 3)
    assert [g["params"] for g in state["param_groups"]] == [[0, 1], [2, 3]]
    assert state["param_groups"][1] == {"lr": 0.1, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0,
                                        "params": [2, 3]}


def test_load_state_dict_moves_state_to_the_parameters_device():
    cpu_model = small_model()
    opt = optim.Adam(cpu_model.parameters())
    training_grads(cpu_model, 0)
    opt.step()
    sim_model = small_model().to("sim")
    sim_opt = optim.Adam(sim_model.parameters())
    sim_opt.load_state_dict(opt.state_dict())
    exp_avg = sim_opt.state[sim_model[0].weight]["exp_avg"]
    assert minigan.backend.device_of(exp_avg) == "sim"
    np.testing.assert_array_equal(exp_avg.get(), opt.state[cpu_model[0].weight]["exp_avg"])
    assert opt.state[cpu_model[0].weight]["exp_avg"] is not sim_opt.state_dict()["state"][0]["exp_avg"].array


def test_load_state_dict_refuses_a_different_layout():
    model = small_model()
    state = optim.SGD(model.parameters(), lr=0.1).state_dict()
    with pytest.raises(ValueError, match="the saved state has 1 parameter groups, this optimizer 2"):
        optim.SGD([{"params": model[0].parameters()}, {"params": model[2].parameters()}], lr=0.1).load_state_dict(state)
    with pytest.raises(ValueError, match="saved group 0 has 4 parameters, this optimizer's has 2"):
        optim.SGD(model[0].parameters(), lr=0.1).load_state_dict(state)


def test_repr_lists_groups():
    text = repr(optim.SGD([scalar()], lr=0.1, momentum=0.9))
    assert text.startswith("SGD (\nParameter Group 0\n") and "    momentum: 0.9" in text and text.endswith(")")


# -- Adam without PyTorch: the update rule and the moments, in float64 NumPy ------------------------------
ADAM_CONFIGS = {  # the configurations test_matches_pytorch_for_five_steps checks against PyTorch
    "adam": dict(lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0),
    "adam_dcgan_decay": dict(lr=2e-3, betas=(0.5, 0.999), eps=1e-8, weight_decay=0.1),
    "adam_wgan_gp": dict(lr=1e-3, betas=(0.0, 0.9), eps=1e-6, weight_decay=0.0),
    "adam_large_eps": dict(lr=0.05, betas=(0.8, 0.9), eps=0.3, weight_decay=0.05),
}


def _fixed_gradients(shape, steps, seed):
    """The gradients of each step, fixed in advance (so that they do not depend on the update)."""
    rng = np.random.default_rng(seed)
    return [rng.uniform(-2.0, 2.0, shape) * rng.choice([1e-3, 1.0, 30.0], shape) for _ in range(steps)]


def _adam_reference(p, grads, lr, betas, eps, weight_decay):
    """The parameters and the moments after each step, as PyTorch's Adam computes them, in float64."""
    (beta1, beta2), m, v, out = betas, np.zeros_like(p), np.zeros_like(p), []
    for t, grad in enumerate(grads, start=1):
        g = grad + weight_decay * p
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        step = lr / (1 - beta1 ** t) * m / (np.sqrt(v) / np.sqrt(1 - beta2 ** t) + eps)
        p = p - step
        out.append((p, m, v, np.abs(step)))
    return out


def _adam_run(p0, grads, dtype, **kwargs):
    """The parameters after each step of minigan's Adam from the fixed gradients."""
    p = nn.Parameter(minigan.tensor(p0.astype(dtype)))
    opt = optim.Adam([p], **kwargs)
    for grad in grads:
        p.grad = minigan.tensor(grad.astype(dtype))
        opt.step()
        yield p.numpy().astype(np.float64)


@pytest.mark.op_adam
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("config", sorted(ADAM_CONFIGS))
def test_adam_steps_follow_the_update_rule(config, dtype):
    """Five steps from fixed gradients (small, medium and large, so that eps and the bias
    corrections all show), against PyTorch's formula in float64. Each step rounds about a dozen
    times relative to its own size, and p - step once relative to p (in float32 the start and
    the gradients are rounded to float32 first, on both sides)."""
    kwargs = ADAM_CONFIGS[config]
    p0 = np.random.default_rng(1).uniform(-1.0, 1.0, (3, 4)).astype(dtype).astype(np.float64)
    grads = [g.astype(dtype).astype(np.float64) for g in _fixed_gradients(p0.shape, 5, seed=2)]
    expected = _adam_reference(p0, grads, **kwargs)
    moved = np.zeros_like(p0)
    for t, (got, (p, _, _, step)) in enumerate(zip(_adam_run(p0, grads, dtype, **kwargs), expected), start=1):
        moved += step
        bound = gamma(16, dtype) * moved + gamma(t, dtype) * np.abs(p)
        assert np.all(np.abs(got - p) <= bound), f"step {t}: {got} instead of {p}"


@pytest.mark.op_adam
@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_adam_state_holds_the_moments(weight_decay):
    """state holds step, exp_avg and exp_avg_sq: the running moments of the gradients (with the
    weight decay of the parameters before each step added), whatever the update did."""
    p0 = np.random.default_rng(3).uniform(-1.0, 1.0, 5)
    p = nn.Parameter(minigan.tensor(p0))
    beta1, beta2 = 0.8, 0.95
    opt = optim.Adam([p], lr=0.01, betas=(beta1, beta2), weight_decay=weight_decay)
    m = v = size_m = size_v = np.zeros_like(p0)
    for t, grad in enumerate(_fixed_gradients(p0.shape, 3, seed=4), start=1):
        g = grad + weight_decay * p.numpy()
        p.grad = minigan.tensor(grad)
        opt.step()
        m, v = beta1 * m + (1 - beta1) * g, beta2 * v + (1 - beta2) * g * g
        size_m = beta1 * size_m + (1 - beta1) * np.abs(g)  # the sizes that rounding errors are relative to
        size_v = beta2 * size_v + (1 - beta2) * g * g
        state = opt.state[p]
        assert state["step"] == t
        for name, expected, size in (("exp_avg", m, size_m), ("exp_avg_sq", v, size_v)):
            got = np.asarray(state[name], dtype=np.float64)
            assert np.all(np.abs(got - expected) <= gamma(6 * t, np.float64) * size), f"{name} at step {t}"


# -- SGD and RMSprop without PyTorch: their update rules, in float64 NumPy -------------------------------------
def _sgd_reference(p, grads, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    buf, out = None, []
    for grad in grads:
        g = grad + weight_decay * p
        if momentum:
            buf = g.copy() if buf is None else momentum * buf + (1 - dampening) * g
            g = g + momentum * buf if nesterov else buf
        step = lr * g
        p = p - step
        out.append((p, np.abs(step)))
    return out


def _rmsprop_reference(p, grads, lr, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0):
    v, buf, out = np.zeros_like(p), np.zeros_like(p), []
    for grad in grads:
        g = grad + weight_decay * p
        v = alpha * v + (1 - alpha) * g * g
        ratio = g / (np.sqrt(v) + eps)
        buf = momentum * buf + ratio if momentum else ratio
        step = lr * buf
        p = p - step
        out.append((p, np.abs(step)))
    return out


@pytest.mark.parametrize("config", op_params([c for c in CONFIGS if not c.startswith("adam")], TASK_OF))
def test_sgd_and_rmsprop_steps_follow_their_update_rules(config):
    """Five steps from fixed gradients against the rule in float64, as for Adam above."""
    name, kwargs = CONFIGS[config]
    reference = _sgd_reference if name == "SGD" else _rmsprop_reference
    p0 = np.random.default_rng(5).uniform(-1.0, 1.0, (3, 4))
    grads = _fixed_gradients(p0.shape, 5, seed=6)
    p = nn.Parameter(minigan.tensor(p0))
    opt = getattr(optim, name)([p], **kwargs)
    moved = np.zeros_like(p0)
    for t, (grad, (expected, step)) in enumerate(zip(grads, reference(p0, grads, **kwargs)), start=1):
        p.grad = minigan.tensor(grad)
        opt.step()
        moved += step
        bound = gamma(16 * t, np.float64) * moved + gamma(t, np.float64) * np.abs(expected)
        assert np.all(np.abs(p.numpy() - expected) <= bound), f"{config}, step {t}"
