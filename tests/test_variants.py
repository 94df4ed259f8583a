"""GAN variants: the minibatch layers, cGAN / ACGAN / InfoGAN steps, the latent-space tools
and the example scripts that use them."""
import pathlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigan
from minigan import optim
from minigan.gan import build, get_loss
from minigan.gan import latent, remedies
from minigan.gan import variants as V
from minigan.nn.gan_layers import MinibatchDiscrimination, MinibatchStdDev
from helpers import grid_size, load_example, png_size

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def leaf(values, device, requires_grad=True):
    return minigan.tensor(np.asarray(values, dtype=np.float64), requires_grad=requires_grad, device=device)


# -- MinibatchStdDev -------------------------------------------------------------------------------
def numpy_stddev_feature(x: np.ndarray, group_size: int) -> np.ndarray:
    """The appended map, straight from Karras et al.'s description: sample n is in group
    n % (N // G); per group, the std of every feature over its G samples, averaged."""
    n = x.shape[0]
    g = group_size if n % group_size == 0 else n
    m = n // g
    flat = x.reshape(n, -1)
    stat = np.empty(n)
    for sample in range(n):
        members = flat[[sample % m + k * m for k in range(g)]]
        stat[sample] = np.sqrt(members.var(axis=0) + 1e-8).mean()
    return np.broadcast_to(stat.reshape((n, 1) + (1,) * (x.ndim - 2)), (n, 1) + x.shape[2:])


@given(shape=st.tuples(st.integers(1, 8), st.integers(1, 3)).flatmap(
           lambda nc: st.lists(st.integers(1, 3), max_size=2).map(lambda spatial: nc + tuple(spatial))),
       group_size=st.integers(1, 5), seed=st.integers(0, 2**32 - 1))
def test_minibatch_stddev_matches_numpy(device, shape, group_size, seed):
    x = np.random.default_rng(seed).normal(size=shape)
    out = MinibatchStdDev(group_size)(leaf(x, device, requires_grad=False)).numpy()
    assert out.shape == (shape[0], shape[1] + 1) + shape[2:]
    np.testing.assert_array_equal(out[:, :shape[1]], x)
    np.testing.assert_allclose(out[:, shape[1]:], numpy_stddev_feature(x, group_size), rtol=1e-12)


def test_minibatch_stddev_falls_back_to_the_whole_batch():
    layer = MinibatchStdDev(4)
    assert layer.group_size_for(8) == 4 and layer.group_size_for(6) == 6 and layer.group_size_for(2) == 2


def test_minibatch_stddev_sees_collapse():
    """A batch of identical samples gets (almost) 0; a varied one does not."""
    same = np.broadcast_to(np.random.default_rng(1).normal(size=(1, 2, 3, 3)), (4, 2, 3, 3))
    varied = np.random.default_rng(2).normal(size=(4, 2, 3, 3))
    stat = lambda x: MinibatchStdDev(4)(leaf(x, "cpu", requires_grad=False)).numpy()[0, -1, 0, 0]
    assert stat(same) == pytest.approx(1e-4) and stat(varied) > 0.3


@pytest.mark.parametrize("shape, group_size", [((4, 1, 2, 2), 2), ((3, 3), 4)])
def test_minibatch_stddev_gradients(device, shape, group_size):
    x = leaf(np.random.default_rng(3).normal(size=shape), device)
    layer = MinibatchStdDev(group_size)
    assert minigan.gradcheck(layer, x)
    assert minigan.gradgradcheck(layer, x)


def test_minibatch_stddev_errors():
    with pytest.raises(ValueError, match="MinibatchStdDev: group_size must be a positive int, got 0"):
        MinibatchStdDev(0)
    with pytest.raises(ValueError, match=r"MinibatchStdDev: expected a non-empty batch .* got \(5,\)"):
        MinibatchStdDev()(minigan.zeros(5))


# -- MinibatchDiscrimination -------------------------------------------------------------------------
def numpy_minibatch_features(x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Salimans et al.'s o(x_i)_b = sum_{j != i} exp(-||M_i,b - M_j,b||_1), pair by pair."""
    m = np.einsum("na,abc->nbc", x, T)
    n, b = m.shape[:2]
    o = np.zeros((n, b))
    for i in range(n):
        for j in range(n):
            if i != j:
                o[i] += np.exp(-np.abs(m[i] - m[j]).sum(axis=1))
    return o


def md_layer(device, a=3, b=2, c=2, seed=0):
    minigan.manual_seed(seed)
    return MinibatchDiscrimination(a, b, c).double().to(device)


@given(n=st.integers(1, 5), a=st.integers(1, 4), b=st.integers(1, 3), c=st.integers(1, 3),
       seed=st.integers(0, 2**32 - 1))
def test_minibatch_discrimination_matches_numpy(device, n, a, b, c, seed):
    layer = md_layer(device, a, b, c, seed=seed)
    x = np.random.default_rng(seed).normal(size=(n, a))
    out = layer(leaf(x, device, requires_grad=False)).numpy()
    assert out.shape == (n, a + b)
    np.testing.assert_array_equal(out[:, :a], x)
    np.testing.assert_allclose(out[:, a:], numpy_minibatch_features(x, layer.weight.numpy()), rtol=1e-12, atol=1e-300)


def test_minibatch_discrimination_excludes_the_sample_itself():
    layer = md_layer("cpu")
    one = layer(leaf(np.ones((1, 3)), "cpu", requires_grad=False)).numpy()
    np.testing.assert_array_equal(one[:, 3:], 0.0)
    twins = layer(leaf(np.ones((2, 3)), "cpu", requires_grad=False)).numpy()
    np.testing.assert_allclose(twins[:, 3:], 1.0)  # each has exactly one identical neighbour


def test_minibatch_discrimination_gradients(device):
    layer = md_layer(device)
    x = np.random.default_rng(5).normal(size=(3, 3))
    m = np.einsum("na,abc->nbc", x, layer.weight.numpy())
    gaps = np.abs(m[:, None] - m[None, :])[~np.eye(3, dtype=bool)]
    assert gaps.min() > 1e-3  # off the kink of |.| (the diagonal's 0 is exact and stays 0)
    fn = lambda x, w: layer(x)
    assert minigan.gradcheck(fn, (leaf(x, device), layer.weight))
    assert minigan.gradgradcheck(fn, (leaf(x, device), layer.weight))


def test_minibatch_discrimination_errors():
    with pytest.raises(ValueError, match="MinibatchDiscrimination: kernel_dims must be a positive int"):
        MinibatchDiscrimination(3, 2, 0)
    with pytest.raises(ValueError, match=r"MinibatchDiscrimination: expected input \(N, 3\), got \(2, 4\)"):
        MinibatchDiscrimination(3, 2, 2)(minigan.zeros(2, 4))


# -- the remedies for the reference discriminators --------------------------------------------------
@pytest.mark.parametrize("arch", ["dcgan", "mlp"])
@pytest.mark.parametrize("remedy, layer", [("minibatch-stddev", MinibatchStdDev),
                                           ("minibatch-discrimination", MinibatchDiscrimination)])
def test_with_remedy_starts_as_the_original_and_trains(arch, remedy, layer):
    minigan.manual_seed(0)
    _, D = build(arch, "non-saturating")
    D.eval()
    x = minigan.randn(8, 1, 28, 28)
    before = D(x).numpy()
    remedied = remedies.with_remedy(D, remedy)
    assert any(isinstance(m, layer) for m in remedied.modules())
    # new features start with weight 0: the same function, up to float32 summation order
    np.testing.assert_allclose(remedied(x).numpy(), before, rtol=1e-5, atol=1e-6)
    remedied.train()
    params = list(remedied.parameters())
    grads = minigan.grad(remedied(x).sum(), params)
    assert all(g.shape == p.shape for g, p in zip(grads, params))
    assert remedies.with_remedy(D, "none") is D
    with pytest.raises(ValueError, match="with_remedy: unknown remedy 'dropout'"):
        remedies.with_remedy(D, "dropout")


# -- labels and codes ------------------------------------------------------------------------------
def test_one_hot_and_sample_labels(device):
    minigan.manual_seed(0)
    labels = V.sample_labels(500, 10, device)
    values = labels.numpy()
    assert values.dtype == np.int64 and values.min() == 0 and values.max() == 9
    hot = V.one_hot(labels, 10).numpy()
    np.testing.assert_array_equal(hot.argmax(axis=1), values)
    np.testing.assert_array_equal(hot.sum(axis=1), 1.0)
    with pytest.raises(TypeError, match="one_hot: expected a 1-D Tensor of integer labels"):
        V.one_hot(minigan.zeros(3), 10)


# -- the three training steps -------------------------------------------------------------------------
def _snapshot(*models):
    return [p.numpy().copy() for m in models for p in m.parameters()]


def _moved(before, *models):
    after = [p.numpy() for m in models for p in m.parameters()]
    return [not np.array_equal(a, b) for a, b in zip(before, after)]


def _run(step, G, D, *data, still=(), g_params=None, d_params=None, **kwargs):
    """Two steps: finite metrics, and every parameter moved except those in ``still``."""
    g_opt = optim.Adam(g_params or G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    d_opt = optim.Adam(d_params or D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    before = _snapshot(G, D)
    rows = [step(G, D, g_opt, d_opt, *data, **kwargs) for _ in range(2)]
    for row in rows:
        assert all(np.isfinite(float(v)) for v in row.values()), row
    names = [f"G.{n}" for n, _ in G.named_parameters()] + [f"D.{n}" for n, _ in D.named_parameters()]
    unmoved = {name for name, moved in zip(names, _moved(before, G, D)) if not moved}
    assert unmoved == set(still)
    return rows


@pytest.fixture
def batch():
    minigan.manual_seed(0)
    images = minigan.rand(64, 1, 28, 28) * 2.0 - 1.0
    return images, V.sample_labels(64)


def test_conditional_gan_step(batch):
    rows = _run(V.conditional_gan_step, V.ConditionalGenerator(width=8), V.ConditionalDiscriminator(width=8), *batch)
    assert {"d_loss", "g_loss", "d_real", "d_fake"} <= set(rows[0])


def test_conditional_gan_step_with_gradient_penalty(batch):
    D = V.ConditionalDiscriminator(width=8, batch_norm=False)
    # E[d(G(z))] - E[d(x)] and the penalty do not depend on the head's bias: its gradient is 0
    rows = _run(V.conditional_gan_step, V.ConditionalGenerator(width=8), D, *batch, game=get_loss("wgan-gp"),
                still={"D.head.bias"})
    assert rows[0]["d_loss"].shape == ()


def test_acgan_step(batch):
    rows = _run(V.acgan_step, V.ConditionalGenerator(width=8), V.ACGANDiscriminator(width=8), *batch)
    assert {"d_aux", "g_aux", "class_accuracy"} <= set(rows[0])


def test_infogan_step(batch):
    G, D = V.InfoGANGenerator(width=8), V.InfoGANDiscriminator(width=8, q_hidden=16)
    rows = _run(V.infogan_step, G, D, batch[0], g_params=V.infogan_g_parameters(G, D),
                d_params=V.infogan_d_parameters(D))
    assert 0 <= float(rows[0]["category_accuracy"]) <= 1 and float(rows[0]["info_loss"]) > 0


def test_infogan_splits_q_from_d():
    """Q's head trains with G; D's body and real/fake head with D; together they are all of D."""
    G, D = V.InfoGANGenerator(width=8), V.InfoGANDiscriminator(width=8, q_hidden=16)
    q_ids = {id(p) for p in D.q.parameters()}
    g_ids = {id(p) for p in V.infogan_g_parameters(G, D)}
    d_ids = {id(p) for p in V.infogan_d_parameters(D)}
    assert q_ids <= g_ids and not q_ids & d_ids and (g_ids | d_ids) >= {id(p) for p in D.parameters()}
    with pytest.raises(ValueError, match="infogan_step: g_optimizer lacks 6 of the"):
        V.infogan_step(G, D, optim.Adam(G.parameters()), optim.Adam(V.infogan_d_parameters(D)),
                       minigan.zeros(4, 1, 28, 28))


def test_info_loss_is_cross_entropy_plus_weighted_gaussian_nll():
    logits = minigan.tensor(np.array([[2.0, 0.0], [0.0, 1.0]]))
    means = minigan.tensor(np.array([[0.5], [-1.0]]))
    category = minigan.tensor(np.array([0, 0]))
    codes = minigan.tensor(np.array([[0.0], [1.0]]))
    ce = -np.mean([2 - np.log(np.exp(2) + 1), 0 - np.log(1 + np.e)])
    nll = 0.5 * np.mean([0.25, 4.0])
    assert float(V.info_loss(logits, means, category, codes, continuous_weight=0.3)) == pytest.approx(ce + 0.3 * nll)


# -- latent space tools --------------------------------------------------------------------------------
@pytest.mark.parametrize("tau", [0.1, 0.5, 1.0, 2.5])
def test_truncated_normal_stays_inside(device, tau):
    minigan.manual_seed(0)
    z = latent.truncated_normal(200, 16, tau, device=device).numpy()
    assert z.shape == (200, 16) and np.abs(z).max() <= tau
    assert np.abs(z).max() > 0.9 * tau  # spread over the interval, not squashed to 0
    minigan.manual_seed(0)
    first = minigan.randn(200, 16, device=device).numpy()
    inside = np.abs(first) <= tau
    np.testing.assert_array_equal(z[inside], first[inside])  # only entries outside are redrawn


def test_truncated_normal_edge_cases():
    minigan.manual_seed(0)
    plain = minigan.randn(4, 3).numpy()
    minigan.manual_seed(0)
    np.testing.assert_array_equal(latent.truncated_normal(4, 3, float("inf")).numpy(), plain)
    with pytest.raises(ValueError, match="truncated_normal: tau must be > 0, got 0"):
        latent.truncated_normal(4, 3, 0)
    with pytest.raises(ValueError, match="after 3 rounds"):
        latent.truncated_normal(100, 100, 1e-6, max_rounds=3)


def test_slerp_endpoints_and_unit_norm(device):
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(5, 7)), rng.normal(size=(5, 7))
    a, b = a / np.linalg.norm(a, axis=1, keepdims=True), b / np.linalg.norm(b, axis=1, keepdims=True)
    t = np.linspace(0, 1, 9)
    path = latent.slerp(leaf(a, device, False), leaf(b, device, False), leaf(t, device, False)).numpy()
    assert path.shape == (5, 9, 7)
    np.testing.assert_allclose(path[:, 0], a, atol=1e-12)
    np.testing.assert_allclose(path[:, -1], b, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(path, axis=2), 1.0, atol=1e-12)
    line = latent.lerp(leaf(a, device, False), leaf(b, device, False), leaf(t, device, False)).numpy()
    assert np.linalg.norm(line[:, 4], axis=1).max() < 1  # the chord's midpoint is inside the sphere


def test_slerp_known_midpoint_and_parallel_fallback():
    a, b = np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]])
    t = minigan.tensor(np.array([0.5]))
    mid = latent.slerp(minigan.tensor(a), minigan.tensor(b), t).numpy()
    np.testing.assert_allclose(mid[0, 0], [np.sqrt(0.5), np.sqrt(0.5)], atol=1e-12)
    same = latent.slerp(minigan.tensor(a), minigan.tensor(2 * a), t).numpy()  # angle 0: the straight line
    np.testing.assert_allclose(same[0, 0], [1.5, 0.0], atol=1e-12)


# -- the example scripts ------------------------------------------------------------------------------



@pytest.fixture
def offline_data(tmp_path, monkeypatch):
    """No downloads in tests: an empty data folder, so the embedded 10k sample is used."""
    monkeypatch.setenv("MINIGAN_DATA", str(tmp_path / "no-data"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(minigan.data.MNIST, "mirrors", ("http://127.0.0.1:9/",), raising=False)


TINY = ["--limit", "64", "--epochs", "1", "--batch-size", "32", "--log-every", "1"]


@pytest.mark.parametrize("script, pictures", [
    ("conditional_gan", {"digits.png": (10, 10), "digits_epoch_001.png": (10, 10)}),
    ("acgan", {"digits.png": (10, 10)}),
    ("infogan", {"categories.png": (10, 10), "continuous_1.png": (10, 10), "continuous_2.png": (10, 10)}),
])
def test_variant_scripts_write_their_grids(offline_data, tmp_path, capsys, script, pictures):
    out = tmp_path / script
    load_example(script).main(TINY + ["--out", str(out)])
    assert "step 2:" in capsys.readouterr().out
    for name, (rows, columns) in pictures.items():
        assert png_size(out / name) == grid_size(rows, columns), name
    assert "generator" in minigan.load(out / "checkpoint.npz")["trainer"]
    # sample.py and latent.py read these checkpoints too (they used to fail with KeyError: 'arch')
    load_example("sample").main([str(out / "checkpoint.npz"), "--n", "20", "--out", str(tmp_path / "s.npy")])
    assert np.load(tmp_path / "s.npy").shape == (20, 1, 28, 28)
    assert png_size(tmp_path / "s.png") == grid_size(2, 10)  # one digit (or category) per column
    load_example("latent").main([str(out / "checkpoint.npz"), "--tau", "1", "inf", "--pairs", "2", "--steps", "3",
                          "--columns", "4", "--out", str(tmp_path / "latent")])
    assert png_size(tmp_path / "latent" / "truncation.png") == grid_size(2, 4)


def test_sample_gives_a_conditional_generator_the_label_asked_for(offline_data, tmp_path, capsys):
    """--label 7 feeds 7 to every row; the default cycles 0-9. Older variant checkpoints (G at
    the top, no "model" in the config) load too."""
    from minigan.gan.checkpoints import generate, load_generator
    minigan.manual_seed(0)
    G = V.ConditionalGenerator()
    old = {"config": {"epochs": 1, "lr": 2e-4, "aux_weight": 1.0}, "generator": G.state_dict(),
           "discriminator": V.ACGANDiscriminator().state_dict()}
    minigan.save(old, tmp_path / "old.npz")
    loaded, latent_dim, kind = load_generator(tmp_path / "old.npz")
    assert (kind, latent_dim) == ("acgan", G.latent_dim)
    load_example("sample").main([str(tmp_path / "old.npz"), "--n", "4", "--label", "7", "--seed", "3",
                          "--out", str(tmp_path / "s.npy")])
    minigan.manual_seed(3)
    G.eval()
    with minigan.no_grad():
        expected = G(minigan.randn(4, G.latent_dim), minigan.tensor(np.full(4, 7))).numpy()
    np.testing.assert_array_equal(np.load(tmp_path / "s.npy"), expected)
    z = minigan.randn(12, latent_dim)
    with minigan.no_grad():
        cycled = G(z, minigan.tensor(np.arange(12) % 10)).numpy()
    np.testing.assert_array_equal(generate(loaded, kind, z), cycled)


def test_sample_refuses_a_label_for_an_unconditional_generator(offline_data, tmp_path, capsys):
    G, _ = minigan.gan.build("mlp", "hinge")
    minigan.save({"config": {"arch": "mlp", "loss": "hinge", "latent_dim": 100},
                  "trainer": {"generator": G.state_dict()}}, tmp_path / "c.npz")
    with pytest.raises(SystemExit) as stop:
        load_example("sample").main([str(tmp_path / "c.npz"), "--label", "3"])
    assert stop.value.code == 2 and "--label: " in capsys.readouterr().err


def test_an_infogan_run_resumes_exactly(offline_data, tmp_path):
    """G, D, both optimizers (G's covers Q's head), the data order, the random state and the
    fixed noise all come back: a run stopped after epoch 1 ends as a straight one."""
    infogan = load_example("infogan")
    infogan.main(TINY[:2] + ["--batch-size", "32", "--log-every", "1", "--epochs", "2", "--out", str(tmp_path / "a")])
    infogan.main(TINY + ["--out", str(tmp_path / "b")])
    infogan.main(["--resume", "--epochs", "2", "--out", str(tmp_path / "b")])
    a, b = (minigan.load(tmp_path / name / "checkpoint.npz") for name in "ab")
    for part in ("generator", "discriminator"):
        for key in a["trainer"][part]:
            np.testing.assert_array_equal(a["trainer"][part][key].numpy(), b["trainer"][part][key].numpy())
    np.testing.assert_array_equal(a["fixed"]["noise"].numpy(), b["fixed"]["noise"].numpy())
    assert (tmp_path / "a" / "continuous_1.png").read_bytes() == (tmp_path / "b" / "continuous_1.png").read_bytes()


def test_latent_script_on_a_mnist_gan_checkpoint(offline_data, tmp_path, monkeypatch):
    run = tmp_path / "run"
    mnist_gan = load_example("mnist_gan")
    monkeypatch.setattr(mnist_gan, "plot_losses", lambda history, path: True)  # matplotlib is slow to start
    mnist_gan.main(["--limit", "32", "--batch-size", "32", "--epochs", "1", "--out", str(run)])
    out = tmp_path / "latent"
    load_example("latent").main([str(run / "checkpoint.npz"), "--tau", "0.5", "1", "inf", "--pairs", "3", "--steps", "5",
                          "--out", str(out)])
    assert png_size(out / "truncation.png") == grid_size(3, 10)
    for method in ("linear", "slerp"):
        assert png_size(out / f"interpolation_{method}.png") == grid_size(3, 5)
