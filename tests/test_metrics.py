"""minigan.metrics and minigan.classifier: the Frechet distance against closed forms and an
independent float64 route, the shipped LeNet's accuracy, and evaluate_samples on real digits,
on a collapsed "generator" and on every device."""
import importlib.util
import json
import math
import pathlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigan
from minigan import classifier, metrics

from helpers import gamma

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def random_psd(rng, dim, rank=None, scale=1.0):
    """A random symmetric PSD (dim, dim) matrix of the given rank (full by default)."""
    factor = rng.normal(size=(dim, dim if rank is None else rank)) * scale
    return factor @ factor.T


def rotation(rng, dim):
    """A random orthogonal matrix (Q of a QR decomposition)."""
    q, _ = np.linalg.qr(rng.normal(size=(dim, dim)))
    return q


def reference_trace_sqrt(s1, s2):
    """Tr((S1 S2)^(1/2)) by another route than minigan's: with S2 = L L^T (Cholesky; S2 must be
    positive definite), S1 S2 is similar to the symmetric PSD matrix L^T S1 L, so its eigenvalues
    are real and >= 0, and the trace of the principal square root is the sum of their square
    roots. (The textbook route, the eigenvalues of the non-symmetric S1 S2, errs by the condition
    of its eigenvectors times the rounding: no bound from the float type alone.)"""
    lower = np.linalg.cholesky(s2)
    eigenvalues = np.linalg.eigvalsh(lower.T @ s1 @ lower)
    return np.sum(np.sqrt(np.clip(eigenvalues, 0, None)))


# -- tolerances from the float type and the size of the problem ----------------------------------
def backward_error(matrix):
    """What a backward-stable float64 eigen- or singular-value solver (LAPACK's) may perturb a
    symmetric (n, n) matrix by, in the 2-norm: gamma_n ||A||_2 (Higham, ch. 3 and 19)."""
    return gamma(len(matrix), np.float64) * np.linalg.norm(matrix, 2)


def sqrt_error(delta, smallest_eigenvalue):
    """How far the square root of a PSD matrix (or of an eigenvalue) moves when the matrix moves
    by delta in the 2-norm: at most sqrt(delta), and at most delta / sqrt(lambda_min) when the
    smallest eigenvalue is away from 0 (||A^1/2 - B^1/2|| <= ||A - B||^1/2, and <= ||A - B||
    / (lambda_min(A)^1/2 + lambda_min(B)^1/2)). Near-singular matrices lose half their digits."""
    if smallest_eigenvalue <= delta:
        return np.sqrt(delta)
    return min(np.sqrt(delta), delta / np.sqrt(smallest_eigenvalue))


def frechet_tolerance(mu1, s1, mu2, s2):
    """The most a correct float64 frechet_distance may be off: the symmetric square roots of S1
    and S2 (from their eigendecompositions) each err by sqrt_error of their backward error, each
    of the n singular values of S1^1/2 S2^1/2 by the norm of the resulting perturbation plus its
    own backward error, and the traces and the squared mean difference by gamma_n."""
    n = len(mu1)
    errors, norms = [], []
    for s in (s1, s2):
        eigenvalues = np.linalg.eigvalsh(s)
        errors.append(sqrt_error(backward_error(s), max(eigenvalues[0], 0.0)))
        norms.append(np.sqrt(max(eigenvalues[-1], 0.0)))
    product = errors[0] * norms[1] + norms[0] * errors[1] + errors[0] * errors[1]
    singular_values = n * (product + gamma(n, np.float64) * (norms[0] + errors[0]) * (norms[1] + errors[1]))
    diff = np.asarray(mu1) - np.asarray(mu2)
    sums = gamma(n, np.float64) * (diff @ diff + np.trace(s1) + np.trace(s2))
    return 2 * singular_values + sums


def reference_tolerance(s1, s2):
    """The most :func:`reference_trace_sqrt` may be off: the eigenvalues of L^T S1 L err by its
    backward error (and forming it by gamma_n), each square root by :func:`sqrt_error`."""
    lower = np.linalg.cholesky(s2)
    m = lower.T @ s1 @ lower
    delta = backward_error(m) + 2 * gamma(len(m), np.float64) * np.linalg.norm(s1, 2) * np.linalg.norm(s2, 2)
    return sum(sqrt_error(delta, max(w, 0.0)) for w in np.linalg.eigvalsh(m))


def test_the_tolerances_are_tight_for_well_conditioned_and_loose_for_singular():
    """The bounds above: ~1e-14 of the scale for well-conditioned covariances, about the
    square root of the rounding (1e-7 of the scale) for singular ones."""
    rng = np.random.default_rng(10)
    mu, full, singular = np.zeros(8), np.eye(8) + random_psd(rng, 8) / 8, random_psd(rng, 8, 3)
    assert frechet_tolerance(mu, full, mu, full) < 1e-12 * np.trace(full)
    assert 1e-9 * np.trace(singular) < frechet_tolerance(mu, singular, mu, full) < 1e-5 * np.trace(singular)


# -- the Frechet distance: closed forms ----------------------------------------------------------
@pytest.mark.parametrize("rank", [None, 2])
def test_identical_distributions_are_at_distance_zero(rank):
    rng = np.random.default_rng(0)
    mu, sigma = rng.normal(size=6), random_psd(rng, 6, rank)
    assert abs(metrics.frechet_distance(mu, sigma, mu, sigma)) <= frechet_tolerance(mu, sigma, mu, sigma)


def test_ill_conditioned_identical_covariances_stay_at_zero():
    """Identical inputs cancel exactly but for the rounding of one singular value
    decomposition and of the traces: 2 n gamma_n ||S||, however ill-conditioned S is."""
    rng = np.random.default_rng(1)
    q = rotation(rng, 20)
    sigma = (q * np.logspace(0, -14, 20)) @ q.T  # condition number 1e14
    bound = 2 * 20 * gamma(20, np.float64) * np.linalg.norm(sigma, 2)
    assert abs(metrics.frechet_distance(np.zeros(20), sigma, np.zeros(20), sigma)) < bound


def test_a_pure_mean_shift_costs_its_squared_length():
    rng = np.random.default_rng(2)
    mu1, mu2, sigma = rng.normal(size=5), rng.normal(size=5), random_psd(rng, 5)
    expected = np.sum((mu1 - mu2) ** 2)
    assert metrics.frechet_distance(mu1, sigma, mu2, sigma) == pytest.approx(
        expected, rel=0, abs=frechet_tolerance(mu1, sigma, mu2, sigma))


def test_diagonal_covariances():
    a, b = np.array([4.0, 1.0, 0.25, 0.0]), np.array([1.0, 9.0, 0.25, 2.0])
    mu1, mu2 = np.array([1.0, 0.0, -1.0, 2.0]), np.array([0.0, 0.0, 1.0, 2.0])
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)  # 5 + 1 + 4 + 0 + 2
    assert expected == 12.0
    assert metrics.frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(
        expected, rel=0, abs=frechet_tolerance(mu1, np.diag(a), mu2, np.diag(b)))


def test_commuting_covariances_behave_like_diagonal_ones():
    rng = np.random.default_rng(3)
    q, a, b = rotation(rng, 5), rng.uniform(0, 3, 5), rng.uniform(0, 3, 5)
    s1, s2 = (q * a) @ q.T, (q * b) @ q.T  # same eigenvectors, so S1 S2 = S2 S1
    expected = np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    # forming S1 and S2 from q rounds too: the tolerance is that of the matrices as stored
    assert metrics.frechet_distance(np.zeros(5), s1, np.zeros(5), s2) == pytest.approx(
        expected, rel=0, abs=frechet_tolerance(np.zeros(5), s1, np.zeros(5), s2))


@pytest.mark.parametrize("c", [0.0, 0.5, 1.0, 3.0])
def test_scaled_covariance(c):
    rng = np.random.default_rng(4)
    sigma = random_psd(rng, 4)
    expected = (1 - c) ** 2 * np.trace(sigma)  # Tr(S + c^2 S - 2 c S)
    zero = np.zeros(4)
    assert metrics.frechet_distance(zero, sigma, zero, c * c * sigma) == pytest.approx(
        expected, rel=0, abs=frechet_tolerance(zero, sigma, zero, c * c * sigma))


def test_a_point_mass_is_at_its_squared_distance_plus_the_spread():
    rng = np.random.default_rng(5)
    mu1, mu2, sigma = rng.normal(size=3), rng.normal(size=3), random_psd(rng, 3)
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(sigma)
    distance = metrics.frechet_distance(mu1, np.zeros((3, 3)), mu2, sigma)
    assert distance == pytest.approx(expected, rel=0, abs=frechet_tolerance(mu1, np.zeros((3, 3)), mu2, sigma))


@pytest.mark.parametrize("rank", [None, 3])
def test_random_spd_matches_the_eigenvalues_of_the_product(rank):
    rng = np.random.default_rng(6)
    mu1, mu2 = rng.normal(size=8), rng.normal(size=8)
    s1, s2 = random_psd(rng, 8, rank), random_psd(rng, 8, scale=0.5)
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * reference_trace_sqrt(s1, s2)
    tolerance = frechet_tolerance(mu1, s1, mu2, s2) + 2 * reference_tolerance(s1, s2)
    assert metrics.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=0, abs=tolerance)


@given(seed=st.integers(0, 2**32 - 1), dim=st.integers(1, 6), ranks=st.tuples(st.integers(0, 6), st.integers(0, 6)))
def test_a_squared_metric_symmetric_non_negative_with_the_triangle_inequality(seed, dim, ranks):
    rng = np.random.default_rng(seed)
    points = [(rng.normal(size=dim), random_psd(rng, dim, min(r, dim))) for r in (*ranks, dim)]
    d = {(i, j): metrics.frechet_distance(*points[i], *points[j]) for i in range(3) for j in range(3)}
    tol = {(i, j): frechet_tolerance(*points[i], *points[j]) for i in range(3) for j in range(3)}
    for (i, j), value in d.items():
        assert value == pytest.approx(d[j, i], rel=0, abs=tol[i, j] + tol[j, i])
        assert value >= np.sum((points[i][0] - points[j][0]) ** 2) - tol[i, j]  # the trace term is >= 0
    # sqrt(FD) is the 2-Wasserstein distance between the Gaussians, a metric; |sqrt(a) - sqrt(b)|
    # <= sqrt(|a - b|), so each side's square root may be off by the square root of its tolerance
    root = {key: math.sqrt(max(value, 0)) for key, value in d.items()}
    slack = sum(math.sqrt(tol[key]) for key in ((0, 2), (0, 1), (1, 2)))
    assert root[0, 2] <= root[0, 1] + root[1, 2] + slack


def test_tensors_on_any_device_are_accepted(device):
    rng = np.random.default_rng(7)
    mu, s1, s2 = rng.normal(size=3), random_psd(rng, 3), random_psd(rng, 3)
    on_device = [minigan.tensor(a, device=device) for a in (mu, s1, 0 * mu, s2)]
    # the same float64 values reach the same NumPy/LAPACK calls: the same bits
    assert metrics.frechet_distance(*on_device) == metrics.frechet_distance(mu, s1, 0 * mu, s2)


# -- from features --------------------------------------------------------------------------------
def test_from_features_shifted_and_scaled_samples():
    rng = np.random.default_rng(8)
    f = rng.normal(size=(500, 4)) @ rng.normal(size=(4, 4)) + 1.0
    shift = np.array([1.0, -2.0, 0.5, 0.0])
    assert metrics.frechet_distance_from_features(f, f + shift) == pytest.approx(shift @ shift, rel=1e-9)
    c = 0.25  # features c f: mean c m, covariance c^2 S
    total_variance = np.var(f, axis=0, ddof=1).sum()  # Tr S, the unbiased estimate
    expected = (1 - c) ** 2 * (f.mean(axis=0) @ f.mean(axis=0) + total_variance)
    assert metrics.frechet_distance_from_features(f, c * f) == pytest.approx(expected, rel=1e-9)


def test_feature_statistics_are_mean_and_unbiased_covariance():
    f = np.array([[0.0, 1.0], [2.0, 1.0], [4.0, 4.0]])
    mean, cov = metrics.feature_statistics(f)
    np.testing.assert_allclose(mean, [2.0, 2.0])
    np.testing.assert_allclose(cov, [[4.0, 3.0], [3.0, 3.0]])  # sums of products / (3 - 1)


# -- errors ---------------------------------------------------------------------------------------
def test_frechet_distance_errors_name_the_problem():
    eye = np.eye(3)
    with pytest.raises(ValueError, match=r"frechet_distance: mu1 and mu2 .* shapes \(3,\) and \(2,\)"):
        metrics.frechet_distance(np.zeros(3), eye, np.zeros(2), np.eye(2))
    with pytest.raises(ValueError, match=r"frechet_distance: sigma2 must be a \(3, 3\) covariance .* got shape \(2, 2\)"):
        metrics.frechet_distance(np.zeros(3), eye, np.zeros(3), np.eye(2))
    with pytest.raises(ValueError, match="sigma1 is not symmetric"):
        metrics.frechet_distance(np.zeros(3), np.triu(np.ones((3, 3))), np.zeros(3), eye)
    with pytest.raises(ValueError, match="sigma2 is not positive semi-definite"):
        metrics.frechet_distance(np.zeros(3), eye, np.zeros(3), -eye)
    with pytest.raises(ValueError, match="mu1 contains NaN"):
        metrics.frechet_distance(np.array([0.0, np.nan, 0.0]), eye, np.zeros(3), eye)
    with pytest.raises(ValueError, match=r"expected features \(N1, d\) and \(N2, d\), got shapes \(5, 3\) and \(5, 4\)"):
        metrics.frechet_distance_from_features(np.ones((5, 3)), np.ones((5, 4)))
    with pytest.raises(ValueError, match=r"N >= 2 samples, got shape \(1, 3\)"):
        metrics.frechet_distance_from_features(np.ones((1, 3)), np.ones((5, 3)))


# -- class statistics -----------------------------------------------------------------------------
def one_hot_probabilities(classes, confidence=1.0):
    """Probabilities that put ``confidence`` on each given class and spread the rest evenly."""
    p = np.full((len(classes), 10), (1 - confidence) / 9)
    p[np.arange(len(classes)), classes] = confidence
    return p


def test_class_statistics_closed_forms():
    uniform = metrics.class_statistics(one_hot_probabilities(np.arange(1000) % 10, 0.8))
    assert uniform["class_histogram"] == [100] * 10 and uniform["modes_covered"] == 10
    assert uniform["kl_to_uniform"] == pytest.approx(0.0, abs=1e-12)
    assert uniform["mean_confidence"] == pytest.approx(0.8)
    halves = metrics.class_statistics(one_hot_probabilities([3] * 50 + [8] * 50))
    assert halves["modes_covered"] == 2 and halves["kl_to_uniform"] == pytest.approx(math.log(5))
    single = metrics.class_statistics(one_hot_probabilities([7] * 30))
    assert single["modes_covered"] == 1 and single["kl_to_uniform"] == pytest.approx(math.log(10))


def test_a_mode_needs_two_percent_of_the_samples():
    classes = [0] * 20 + [1] * 19 + [2] * 961  # 2.0%, 1.9% and the rest, of 1000
    stats = metrics.class_statistics(one_hot_probabilities(classes))
    assert stats["class_histogram"][:3] == [20, 19, 961] and stats["modes_covered"] == 2


# -- the classifier -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def digits():
    return classifier.embedded_digits()


@pytest.fixture(scope="module")
def lenet():
    return classifier.pretrained()


def test_embedded_digits_are_scaled_like_mnist(digits):
    images, labels = digits
    assert images.shape == (10000, 1, 28, 28) and images.dtype == np.float32 and labels.dtype == np.int64
    assert images.min() == -1.0 and images.max() == 1.0 and set(np.unique(labels)) == set(range(10))


def test_shipped_weights_classify_held_out_digits(digits, lenet):
    images, labels = digits
    held_out = slice(-classifier.HELD_OUT, -classifier.HELD_OUT + 400)  # never trained on
    with minigan.no_grad():
        predicted = lenet(minigan.tensor(images[held_out])).argmax(axis=1).numpy()
    assert np.mean(predicted == labels[held_out]) >= 0.95
    assert classifier.WEIGHTS.stat().st_size < 400_000


def test_features_are_the_penultimate_layer(digits, lenet):
    x = minigan.tensor(digits[0][:5])
    with minigan.no_grad():
        features, logits = lenet.features(x), lenet(x)
    assert features.shape == (5, classifier.NUM_FEATURES) and features.numpy().min() >= 0  # after a relu
    expected = features.numpy() @ lenet.fc3.weight.numpy().T + lenet.fc3.bias.numpy()
    np.testing.assert_allclose(logits.numpy(), expected, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match=r"LeNet: expected a Tensor of images \(N, 1, 28, 28\), got \(5, 784\)"):
        lenet(x.reshape(5, 784))


def test_avg_pool2d_averages_windows_and_backprops():
    x = np.arange(2 * 3 * 4 * 6, dtype=np.float64).reshape(2, 3, 4, 6)
    pooled = classifier.avg_pool2d(minigan.tensor(x)).numpy()
    np.testing.assert_allclose(pooled, (x[:, :, 0::2, 0::2] + x[:, :, 1::2, 0::2] + x[:, :, 0::2, 1::2]
                                        + x[:, :, 1::2, 1::2]) / 4)
    leaf = minigan.tensor(np.random.default_rng(9).normal(size=(1, 2, 4, 4)), requires_grad=True)
    minigan.gradcheck(classifier.avg_pool2d, leaf)
    with pytest.raises(ValueError, match=r"avg_pool2d: .* multiples of 2, got input of shape \(1, 1, 5, 4\)"):
        classifier.avg_pool2d(minigan.zeros(1, 1, 5, 4))


def test_pretrained_names_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no weights at .*missing.npz"):
        classifier.pretrained(path=tmp_path / "missing.npz")


# -- evaluate_samples -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def reference():
    """The default evaluator (the one evaluate_samples uses on the CPU): the pretrained LeNet
    and the statistics of the first 2,000 embedded digits."""
    return metrics.default_evaluator("cpu")


def test_real_digits_cover_every_mode_at_a_small_distance(digits, reference):
    held_out = digits[0][-500:]  # none of them in the reference set (nor trained on)
    result = metrics.evaluate_samples(held_out)
    assert reference.reference_size == metrics.REFERENCE_SIZE
    spread = np.trace(reference.reference_covariance)  # the distance of a point mass at the real mean
    assert result["modes_covered"] == 10 and result["num_samples"] == 500
    assert result["kl_to_uniform"] < 0.05 and result["mean_confidence"] > 0.9
    assert 0 < result["frechet_distance"] < 0.02 * spread
    shifted = reference(np.roll(held_out, 3, axis=3))  # the same digits moved 3 pixels
    assert shifted["frechet_distance"] > 5 * result["frechet_distance"]
    json.dumps(result)  # plain numbers, ready for metrics.jsonl


def test_one_repeated_digit_is_one_mode_far_away(digits, reference, lenet):
    images, labels = digits
    seven = images[np.flatnonzero(labels == 7)[:1]]
    result = metrics.evaluate_samples(np.repeat(seven, 200, axis=0))
    assert result["modes_covered"] == 1 and result["class_histogram"][7] == 200
    assert result["kl_to_uniform"] == pytest.approx(math.log(10), abs=1e-12)
    # the samples' covariance is 0: FD = ||f(seven) - mu_real||^2 + Tr(Sigma_real)
    with minigan.no_grad():
        f = lenet.features(minigan.tensor(seven)).numpy()[0].astype(np.float64)
    expected = np.sum((f - reference.reference_mean) ** 2) + np.trace(reference.reference_covariance)
    assert result["frechet_distance"] == pytest.approx(expected, rel=1e-4)


def test_runs_where_the_images_are(digits, device):
    images = digits[0][-100:]
    real = digits[0][:100]
    on_cpu = metrics.evaluate_samples(images, real_images=real)
    on_device = metrics.evaluate_samples(minigan.tensor(images, device=device), real_images=real)
    assert on_device["class_histogram"] == on_cpu["class_histogram"]
    assert on_device["frechet_distance"] == pytest.approx(on_cpu["frechet_distance"], rel=1e-3)
    evaluator = metrics.SampleEvaluator(classifier.pretrained(device), real, batch_size=128)
    assert evaluator.device == device
    assert evaluator(images)["frechet_distance"] == pytest.approx(on_cpu["frechet_distance"], rel=1e-3)


def test_the_classifier_keeps_its_mode(digits):
    model = classifier.pretrained().train()
    metrics.evaluate_samples(digits[0][:50], real_images=digits[0][50:100], classifier=model)
    assert model.training


def test_evaluate_samples_errors_name_the_problem(digits):
    images = digits[0][:10]
    with pytest.raises(ValueError, match=r"evaluate_samples: expected images of shape \(N, 1, 28, 28\) "
                                         r"with N >= 2, got \(10, 28, 28\)"):
        metrics.evaluate_samples(images[:, 0])
    with pytest.raises(ValueError, match=r"N >= 2, got \(1, 1, 28, 28\)"):
        metrics.evaluate_samples(images[:1])
    with pytest.raises(TypeError, match="expected float images in \\[-1, 1\\].*got dtype uint8"):
        metrics.evaluate_samples((images * 127.5 + 127.5).astype(np.uint8))
    with pytest.raises(ValueError, match=r"must lie in \[-1, 1\].*from 0.0 to 255.0"):
        metrics.evaluate_samples(images * 127.5 + 127.5)
    with pytest.raises(ValueError, match=r"must lie in \[-1, 1\]"):
        metrics.evaluate_samples(np.where(images > 0, np.nan, images))
    with pytest.raises(TypeError, match="images must be a Tensor or a NumPy array, got list"):
        metrics.evaluate_samples(images.tolist())
    with pytest.raises(ValueError, match="SampleEvaluator: batch_size must be a positive int, got 0"):
        metrics.SampleEvaluator(real_images=images, batch_size=0)


# -- the training script --------------------------------------------------------------------------
def load_script():
    spec = importlib.util.spec_from_file_location("train_classifier", EXAMPLES / "train_classifier.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    return script


def test_train_classifier_script_writes_loadable_weights(tmp_path):
    script = load_script()
    out = tmp_path / "lenet.npz"
    info = script.main(["--epochs", "1", "--limit", "128", "--out", str(out)])
    assert info["train_digits"] == 128 and 0 <= info["held_out_accuracy"] <= 1
    model = classifier.pretrained(path=out)
    assert model(minigan.tensor(classifier.embedded_digits()[0][:2])).shape == (2, 10)


def test_random_shifts_move_each_image_within_the_border():
    script = load_script()
    images = np.full((50, 1, 28, 28), -1.0, dtype=np.float32)
    images[:, 0, 14, 14] = 1.0  # one bright pixel in the middle
    shifted = script.random_shifts(images, np.random.default_rng(0))
    assert shifted.shape == images.shape and np.all(np.sum(shifted == 1.0, axis=(1, 2, 3)) == 1)
    rows, cols = np.nonzero(shifted[:, 0] == 1.0)[1:]
    assert np.all(np.abs(rows - 14) <= 2) and np.all(np.abs(cols - 14) <= 2)
    assert len(set(zip(rows, cols))) > 10  # the offsets differ between images
    np.testing.assert_array_equal(script.random_shifts(images, np.random.default_rng(0), max_shift=0), images)
