"""How good are a GAN's digits? The Frechet distance and class coverage, in a LeNet's eyes.

- :func:`frechet_distance` is the Frechet (2-Wasserstein) distance between two Gaussians,
  ``||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2))``: fitted to the features of real and of
  generated images, it is the FID of Heusel et al. (2017), here with the 84 penultimate
  features of the LeNet of :mod:`minigan.classifier` in place of Inception's 2048.
- :func:`class_statistics`: what the classifier thinks the samples are: how many of the ten
  digits appear (mode collapse shows up here first), how far the class histogram is from
  uniform, and how confident the classifier is (blurry or broken digits lower it).
- :func:`evaluate_samples` and :class:`SampleEvaluator` compute all of these for a batch of
  generated images; the evaluator keeps the real digits' statistics between calls.
- :func:`checkerboard_energy`: how much of the images' spectrum sits at the frequency of a
  stride-2 upsampling's artifact (Odena et al. 2016), needing no classifier.

Frechet distances depend on the number of samples (the covariance estimates are biased), so
compare values computed from equally many samples (the default reference holds 2,000 real
digits; evaluate about as many generated ones). They are comparable only with the same
classifier: these are not the FID values of papers, which use Inception features.

For a sense of scale with the defaults: 500 real digits the classifier never saw score about
2-3, the same digits shifted by 3 pixels about 30, uniform noise about 570, and one digit
repeated about 750 (2,000 real digits have a total feature variance of about 390).
"""
from __future__ import annotations

import functools
import numbers

import numpy as np

from . import backend
from . import functional as F
from .autograd import no_grad
from .classifier import embedded_digits, pretrained
from .tensor import Tensor

REFERENCE_SIZE = 2000  # real digits in the default reference: the first 2,000 of the embedded sample
MODE_THRESHOLD = 0.02  # a class counts as covered when at least 2% of the samples fall in it
SYMMETRY_TOLERANCE = 1e-6  # relative: what a covariance may differ from its transpose
PSD_TOLERANCE = 1e-6  # relative to the largest eigenvalue: how negative an eigenvalue may round
RANGE_TOLERANCE = 1e-3  # images must lie in [-1, 1], up to this much rounding


# -- the Frechet distance -----------------------------------------------------------------------
def _host_float64(op: str, name: str, value) -> np.ndarray:
    """``value`` (a Tensor on any device, an array or nested lists) as a float64 NumPy array."""
    if isinstance(value, Tensor):
        value = value.numpy()
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{op}: {name} must be numeric (a Tensor or an array), got {type(value).__name__}") from err
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{op}: {name} contains NaN or infinite values")
    return array


def _check_covariance(op: str, name: str, sigma: np.ndarray, dim: int) -> tuple:
    """``sigma`` checked to be a symmetric positive semi-definite (dim, dim) matrix, up to
    rounding; returns the eigenvalues (clipped at 0) and eigenvectors of its symmetric part."""
    if sigma.shape != (dim, dim):
        raise ValueError(f"{op}: {name} must be a ({dim}, {dim}) covariance matrix to go with a mean "
                         f"of {dim} features, got shape {sigma.shape}")
    scale = float(np.max(np.abs(sigma), initial=0.0))
    if np.max(np.abs(sigma - sigma.T), initial=0.0) > SYMMETRY_TOLERANCE * scale:
        raise ValueError(f"{op}: {name} is not symmetric, so it is no covariance matrix")
    sigma = (sigma + sigma.T) / 2
    eigenvalues, eigenvectors = np.linalg.eigh(sigma)
    if dim and eigenvalues[0] < -PSD_TOLERANCE * max(abs(eigenvalues[-1]), abs(eigenvalues[0])):
        raise ValueError(f"{op}: {name} is not positive semi-definite (smallest eigenvalue "
                         f"{eigenvalues[0]:.3g}, largest {eigenvalues[-1]:.3g}), so it is no covariance matrix")
    return np.clip(eigenvalues, 0.0, None), eigenvectors


def _sqrt_psd(eigenvalues: np.ndarray, eigenvectors: np.ndarray) -> np.ndarray:
    """The symmetric square root V diag(sqrt(w)) V^T of a PSD matrix from its eigendecomposition."""
    return (eigenvectors * np.sqrt(eigenvalues)) @ eigenvectors.T


def _trace_sqrt_product(eig1, eig2) -> float:
    """Tr((S1 S2)^(1/2)) from the eigendecompositions (w, V) of two covariances S1, S2.

    S1 S2 is not symmetric, so a general matrix square root (Schur or Newton iterations, as
    scipy.linalg.sqrtm) can turn complex and lose accuracy when S1 or S2 is singular, which
    covariances of relu features often are (FID code adds eps * I and drops imaginary parts).
    Instead: with A = S1^(1/2) S2^(1/2) (symmetric square roots from ``eigh``), A A^T =
    S1^(1/2) S2 S1^(1/2) has the eigenvalues of S1 S2 (XY and YX share their eigenvalues),
    and those are the squared singular values of A; so Tr((S1 S2)^(1/2)) is the sum of the
    singular values of A. Every step is backward stable and nothing is squared and then
    square-rooted again, so singular and ill-conditioned covariances keep their accuracy.
    """
    return float(np.linalg.svd(_sqrt_psd(*eig1) @ _sqrt_psd(*eig2), compute_uv=False).sum())


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """The Frechet distance between N(mu1, sigma1) and N(mu2, sigma2):
    ||mu1 - mu2||^2 + Tr(S1) + Tr(S2) - 2 Tr((S1 S2)^(1/2)), in float64.

    It is the squared 2-Wasserstein distance between the two Gaussians, so it is >= 0 (up to
    rounding, of order 1e-15 of the traces), 0 only for equal distributions, symmetric, and its
    square root obeys the triangle inequality. Means are (d,) and covariances (d, d), symmetric
    positive semi-definite (checked): Tensors (any device) or arrays. Eigenvalues that rounding
    made slightly negative are taken as 0. See ``_trace_sqrt_product`` for the square root.
    """
    op = "frechet_distance"
    m1, m2 = _host_float64(op, "mu1", mu1), _host_float64(op, "mu2", mu2)
    if m1.ndim != 1 or m1.shape != m2.shape or m1.size == 0:
        raise ValueError(f"{op}: mu1 and mu2 must be non-empty vectors of one length, got shapes "
                         f"{m1.shape} and {m2.shape}")
    s1, s2 = _host_float64(op, "sigma1", sigma1), _host_float64(op, "sigma2", sigma2)
    eig1 = _check_covariance(op, "sigma1", s1, m1.shape[0])
    eig2 = _check_covariance(op, "sigma2", s2, m1.shape[0])
    diff = m1 - m2
    traces = eig1[0].sum() + eig2[0].sum()  # Tr S = the sum of its eigenvalues
    return float(diff @ diff + traces - 2.0 * _trace_sqrt_product(eig1, eig2))


def feature_statistics(features) -> tuple:
    """The mean (d,) and covariance (d, d) of ``features`` (N, d) in float64, with N >= 2;
    the covariance is unbiased (divides by N - 1), as FID implementations compute it."""
    f = _host_float64("feature_statistics", "features", features)
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"feature_statistics: expected features (N, d) with N >= 2 samples, got shape {f.shape}")
    return f.mean(axis=0), np.cov(f, rowvar=False, ddof=1).reshape(f.shape[1], f.shape[1])


def frechet_distance_from_features(features1, features2) -> float:
    """The Frechet distance between Gaussians fitted to ``features1`` (N1, d) and ``features2``
    (N2, d) (means and unbiased covariances; N1, N2 >= 2)."""
    f1 = _host_float64("frechet_distance_from_features", "features1", features1)
    f2 = _host_float64("frechet_distance_from_features", "features2", features2)
    if f1.ndim != 2 or f2.ndim != 2 or f1.shape[1] != f2.shape[1]:
        raise ValueError(f"frechet_distance_from_features: expected features (N1, d) and (N2, d), got shapes "
                         f"{f1.shape} and {f2.shape}")
    return frechet_distance(*feature_statistics(f1), *feature_statistics(f2))


# -- what the classifier sees -------------------------------------------------------------------
def class_statistics(probabilities, threshold: float = MODE_THRESHOLD) -> dict:
    """Class coverage of samples from the classifier's probabilities (N, C):

    - ``class_histogram``: how many samples fall in each class (argmax), a list of C ints;
    - ``modes_covered``: the classes holding at least ``threshold`` of the samples;
    - ``kl_to_uniform``: KL(histogram || uniform) = sum_c p_c log(C p_c), in nats: 0 when
      every class is equally frequent, log(C) when all samples fall in one class;
    - ``mean_confidence``: the mean of each sample's largest probability.
    """
    p = _host_float64("class_statistics", "probabilities", probabilities)
    if p.ndim != 2 or p.shape[0] == 0:
        raise ValueError(f"class_statistics: expected probabilities (N, C) with N >= 1, got shape {p.shape}")
    counts = np.bincount(p.argmax(axis=1), minlength=p.shape[1])
    freq = counts / p.shape[0]
    seen = freq > 0
    kl = float(np.sum(freq[seen] * np.log(freq[seen] * p.shape[1])))
    return {"modes_covered": int(np.sum(freq >= threshold)), "kl_to_uniform": max(kl, 0.0),  # >= 0 but for rounding
            "mean_confidence": float(p.max(axis=1).mean()), "class_histogram": counts.tolist()}


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))  # exp(z - max z): no overflow
    return shifted / shifted.sum(axis=1, keepdims=True)


def _device_of(module):
    first = next(iter(module.parameters()), None)
    return first.device if first is not None else backend.CPU


def _check_images(op: str, images, device) -> Tensor:
    """``images`` as a Tensor of (N, 1, 28, 28) floats in [-1, 1] on ``device``, or a clear error."""
    if isinstance(images, np.ndarray):
        images = Tensor(images)
    if not isinstance(images, Tensor):
        raise TypeError(f"{op}: images must be a Tensor or a NumPy array, got {type(images).__name__}")
    if images.ndim != 4 or images.shape[1:] != (1, 28, 28) or images.shape[0] < 2:
        raise ValueError(f"{op}: expected images of shape (N, 1, 28, 28) with N >= 2, got {images.shape}")
    if images.dtype.kind != "f":
        raise TypeError(f"{op}: expected float images in [-1, 1] (as generators and MNIST.get_batch give "
                        f"them), got dtype {images.dtype}; scale uint8 pixels with x / 127.5 - 1")
    xp = backend.array_module(images.array)
    low, high = backend.to_numpy(xp.stack([images.array.min(), images.array.max()]))  # one host copy
    if not (low >= -1 - RANGE_TOLERANCE and high <= 1 + RANGE_TOLERANCE):  # NaN fails this too
        raise ValueError(f"{op}: images must lie in [-1, 1] (background -1), got values from {low} to {high}")
    return Tensor(backend.to_device(images.array, device)).astype(np.float32)


def classifier_outputs(classifier, images: Tensor, batch_size: int) -> tuple:
    """The features (N, d) and logits (N, C) of ``images`` as float64 NumPy arrays: batches
    under ``no_grad`` in eval mode (the mode is restored), one device-to-host copy at the end."""
    was_training = classifier.training
    classifier.eval()
    features, logits = [], []
    try:
        with no_grad():
            for start in range(0, images.shape[0], batch_size):
                f = classifier.features(images[start:start + batch_size])
                features.append(f)
                logits.append(classifier.classify(f))
            both = F.concatenate([F.concatenate(features), F.concatenate(logits)], axis=1)
    finally:
        classifier.train(was_training)
    host = both.numpy().astype(np.float64)
    n_features = features[0].shape[1]
    return host[:, :n_features], host[:, n_features:]


class SampleEvaluator:
    """Scores batches of generated digits against a fixed set of real ones.

    ``SampleEvaluator(classifier=None, real_images=None, batch_size=500, device=None)``: the
    classifier defaults to :func:`minigan.classifier.pretrained` on ``device`` (default cpu;
    a given classifier stays on its own device; any module with ``features(x)`` and
    ``classify(features)`` will do), the real images to the first
    :data:`REFERENCE_SIZE` digits of the embedded MNIST sample. Their feature mean and
    covariance are computed once, here; each call then costs one pass over the samples.
    """

    def __init__(self, classifier=None, real_images=None, batch_size: int = 500, device=None):
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
            raise ValueError(f"SampleEvaluator: batch_size must be a positive int, got {batch_size!r}")
        self.batch_size = int(batch_size)
        self.classifier = classifier if classifier is not None else pretrained("cpu" if device is None else device)
        self.device = _device_of(self.classifier)
        if real_images is None:
            real_images = embedded_digits()[0][:REFERENCE_SIZE]
        real = _check_images("SampleEvaluator", real_images, self.device)
        real_features, _ = classifier_outputs(self.classifier, real, self.batch_size)
        self.reference_mean, self.reference_covariance = feature_statistics(real_features)
        self.reference_size = real.shape[0]

    def __call__(self, images) -> dict:
        """Metrics of ``images`` (N, 1, 28, 28) in [-1, 1], a Tensor on any device or an array:
        ``frechet_distance`` (to the real digits, in the classifier's features),
        ``modes_covered``, ``kl_to_uniform``, ``mean_confidence``, ``class_histogram`` (see
        :func:`class_statistics`) and ``num_samples``; plain Python numbers, ready for JSON."""
        x = _check_images("evaluate_samples", images, self.device)
        features, logits = classifier_outputs(self.classifier, x, self.batch_size)
        mean, covariance = feature_statistics(features)
        distance = frechet_distance(mean, covariance, self.reference_mean, self.reference_covariance)
        return {"frechet_distance": distance, **class_statistics(_softmax(logits)), "num_samples": x.shape[0]}


@functools.lru_cache(maxsize=4)
def _cached_evaluator(device: str, batch_size: int) -> SampleEvaluator:
    return SampleEvaluator(batch_size=batch_size, device=device)


def default_evaluator(device="cpu", batch_size: int = 500) -> SampleEvaluator:
    """The :class:`SampleEvaluator` of the shipped classifier on ``device`` and the default real
    digits, made on first use and then shared (its reference statistics are computed once)."""
    return _cached_evaluator(str(backend.Device(device)), batch_size)


def evaluate_samples(images, real_images=None, classifier=None, batch_size: int = 500) -> dict:
    """Metrics of generated ``images`` (N >= 2, 1, 28, 28) in [-1, 1] (see :class:`SampleEvaluator`).

    With the defaults (the shipped LeNet, the first 2,000 embedded real digits), the real
    digits' statistics are computed once per device and kept; with your own ``classifier`` or
    ``real_images`` they are recomputed on each call (build a :class:`SampleEvaluator` once
    to keep them). The classifier runs where ``images`` live (or where ``classifier`` is).
    """
    if classifier is None and real_images is None:
        evaluator = default_evaluator(images.device if isinstance(images, Tensor) else "cpu", batch_size)
    else:
        if classifier is None:
            classifier = pretrained(images.device if isinstance(images, Tensor) else "cpu")
        evaluator = SampleEvaluator(classifier, real_images, batch_size)
    return evaluator(images)


# -- checkerboard artifacts ---------------------------------------------------------------------
def checkerboard_energy(images, period: int = 2) -> float:
    """The share of the images' spectral energy at the frequencies of a period-``period`` pattern.

    A stride-s transposed convolution can paint a pattern that repeats every s pixels (Odena et
    al. 2016): in the 2-D discrete Fourier transform of an H x W image, such a pattern lives at
    the frequencies (u, v) where u or v is a non-zero multiple of H / s (resp. W / s): for 28 x 28
    images and s = 2, row or column 14, the highest frequency there is (pixels alternating).
    Per image, the mean is removed (no DC term), the power |FFT|^2 summed over those rows and
    columns and divided by the total power; the result is the ratio of the sums over all images
    (in [0, 1]). Natural digits have little energy there; a checkerboard raises it.
    ``images``: (N, C, H, W) or (N, H, W), a Tensor on any device or an array, H and W multiples
    of ``period``.
    """
    x = _host_float64("checkerboard_energy", "images", images)
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4 or x.shape[0] == 0:
        raise ValueError(f"checkerboard_energy: expected images (N, C, H, W) or (N, H, W) with N >= 1, got shape "
                         f"{x.shape}")
    if isinstance(period, bool) or not isinstance(period, numbers.Integral) or period < 2:
        raise ValueError(f"checkerboard_energy: period must be an int >= 2, got {period!r}")
    h, w = x.shape[2:]
    if h % period or w % period:
        raise ValueError(f"checkerboard_energy: height and width must be multiples of the period {period}, got "
                         f"images of {h} x {w}")
    power = np.abs(np.fft.fft2(x - x.mean(axis=(2, 3), keepdims=True))) ** 2
    rows = np.arange(h) % (h // period) == 0
    columns = np.arange(w) % (w // period) == 0
    rows[0], columns[0] = False, False  # frequency 0 is no pattern
    at_pattern = rows[:, None] | columns[None, :]
    total = power.sum()
    return float(power[..., at_pattern].sum() / total) if total > 0 else 0.0


__all__ = ["MODE_THRESHOLD", "REFERENCE_SIZE", "SampleEvaluator", "checkerboard_energy", "class_statistics",
           "classifier_outputs",
           "default_evaluator", "evaluate_samples", "feature_statistics", "frechet_distance",
           "frechet_distance_from_features"]
