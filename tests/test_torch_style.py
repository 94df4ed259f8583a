"""PyTorch GAN scripts run on minigan with only their imports changed (issue #15).

tests/torch_style/ holds GAN scripts written for PyTorch and torchvision (a vanilla MLP GAN,
PyTorch-example DCGAN, WGAN with weight clipping and an upsampling generator, WGAN-GP, an
auxiliary-classifier conditional GAN). Each test applies the import mapping of the issue
mechanically (tests/torch_style/mapping.py: import lines only) and then:

- runs the script as a user would, a few steps on the shipped digits (offline: its
  ``datasets.MNIST(..., download=True)`` falls back to them), writing its sample grid;
- where PyTorch is installed, runs the same script on PyTorch from the same initial weights
  (copied by ``state_dict``, whose keys must be identical), the same batches and the same
  NumPy noise, in float64, and compares every loss of every step, and the gradients and
  weights at the end. torchvision need not be installed: the PyTorch run gets its batches
  handed in, its torchvision imports are then mapped onto minigan's data modules (which it
  never calls) and onto tests/torch_style/torchvision_stand_in.py for its sample images.
"""
import difflib
import sys
import types
import warnings
from pathlib import Path

import numpy as np
import pytest

import minigan

from helpers import gamma

HERE = Path(__file__).resolve().parent / "torch_style"
sys.path.insert(0, str(HERE))
from mapping import MAPPING, to_minigan  # noqa: E402

# the PyTorch runs' torchvision, where it is not installed (see on_pytorch)
STAND_IN = {**MAPPING, "torchvision.utils": "torchvision_stand_in"}

SCRIPTS = ["mlp_gan", "dcgan", "wgan", "wgan_gp", "acgan"]
SMALL = {  # a few steps of small models; each script's own defaults are a real training run
    "mlp_gan": ["--hidden", "32", "--latent_dim", "16", "--batch_size", "16"],
    "dcgan": ["--ngf", "8", "--ndf", "8", "--nz", "16", "--batchSize", "16"],
    "wgan": ["--channels_g", "8", "--channels_d", "8", "--latent_dim", "16", "--batch_size", "16", "--n_critic", "2"],
    "wgan_gp": ["--hidden", "32", "--latent_dim", "16", "--batch_size", "16", "--n_critic", "2"],
    "acgan": ["--hidden", "32", "--latent_dim", "16", "--batch_size", "16"],
}
STEPS = 3
COMPARED = {"wgan": ["--dropout", "0"]}  # no dropout where the frameworks are compared: their draws differ
# float64 for the comparison: each framework is within gamma_n of the exact value of every
# reduction it computes (n up to 10^4 terms here: a 32 x 32 image through a convolution, a
# 784-wide linear layer); three optimizer steps carry the differences forward, which the
# factor 10^3 allows for
RTOL = 1e3 * gamma(10 ** 4, np.float64)


def load(name: str, source: str) -> types.ModuleType:
    """The script ``source`` as a fresh module named ``name`` (its ``main`` not run)."""
    module = types.ModuleType(name)
    module.__file__ = str(HERE / f"{name}.py")
    exec(compile(source, module.__file__, "exec"), module.__dict__)
    return module


def on_minigan(name: str) -> types.ModuleType:
    return load(name, to_minigan((HERE / f"{name}.py").read_text()))


def on_pytorch(name: str) -> types.ModuleType:
    source = (HERE / f"{name}.py").read_text()
    try:
        import torchvision  # noqa: F401
    except ImportError:  # minigan's data modules (unused: batches are handed in), utils on torch tensors
        source = to_minigan(source, only=("torchvision",), mapping=STAND_IN)
    return load(name, source)


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """MNIST's mirrors point at a port where nothing listens: the scripts train on the shipped digits."""
    monkeypatch.setattr(minigan.data.MNIST, "mirrors", ("http://127.0.0.1:9/",))


def test_the_mapping_changes_import_lines_only():
    for name in SCRIPTS:
        original = (HERE / f"{name}.py").read_text().splitlines()
        ported = to_minigan("\n".join(original)).splitlines()
        changed = [line for line in difflib.ndiff(original, ported) if line[:2] in ("- ", "+ ")]
        assert changed, name
        assert all(line[2:].lstrip().startswith(("import ", "from ")) for line in changed), (name, changed)
        assert not any("torch" in line.replace("as torch", "") for line in changed if line.startswith("+ ")), changed


@pytest.mark.parametrize("statement, expected", [
    ("import torch", "import minigan as torch"),
    ("import torch.nn as nn", "import minigan.nn as nn"),
    ("import torch.nn.parallel", "import minigan.nn.parallel, minigan as torch"),
    ("import torch.nn.functional as F", "import minigan.functional as F"),
    ("from torch.nn import functional as F", "from minigan import functional as F"),
    ("from torch.autograd import Variable", "from minigan.autograd import Variable"),
    ("from torch import autograd, nn", "from minigan import autograd, nn"),
    ("import torch.backends.cudnn as cudnn", "import minigan.backends.cudnn as cudnn"),
    ("from torch.utils.data import DataLoader", "from minigan.utils.data import DataLoader"),
    ("import torchvision.transforms as transforms", "import minigan.data.transforms as transforms"),
    ("from torchvision import datasets, utils as vutils",
     "from minigan.data import datasets; from minigan import utils as vutils"),
    ("from torchvision.utils import save_image", "from minigan.utils import save_image"),
    ("import numpy as np", "import numpy as np"),
])
def test_each_import_form_maps_as_the_issue_says(statement, expected):
    assert to_minigan(statement + "\n") == expected + "\n"
    with pytest.raises(ValueError, match="outside the mapping"):
        to_minigan("import torchvision.models\n")


@pytest.mark.parametrize("name", SCRIPTS)
def test_the_script_trains_on_minigan_and_writes_its_samples(name, tmp_path):
    script = on_minigan(name)
    argv = SMALL[name] + ["--max_steps", str(STEPS), "--data", str(tmp_path / "data"), "--out", str(tmp_path / "out")]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", minigan.data.EmbeddedSampleWarning)  # offline: the shipped digits
        history = script.main(argv)
    assert len(history) == STEPS
    assert all(np.isfinite(v) for record in history for v in record.values()), history
    samples = sorted((tmp_path / "out").glob("*.png"))
    assert samples and samples[0].read_bytes().startswith(b"\x89PNG")


def _batches(script, opt, count):
    """The first ``count`` batches of the script's own data pipeline on minigan, as NumPy arrays."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", minigan.data.EmbeddedSampleWarning)
        loader = iter(script.make_dataloader(opt))
    return [tuple(t.numpy() for t in next(loader)) for _ in range(count)]


@pytest.mark.parametrize("name", SCRIPTS)
def test_the_script_on_minigan_matches_pytorch(name, tmp_path):
    compare(name, tmp_path)


def test_the_comparison_catches_a_weight_one_part_in_a_million_off(tmp_path):
    def nudge(generator, discriminator):
        with minigan.no_grad():
            discriminator.model[0].weight[0, 0:1].mul_(1 + 1e-6)
    with pytest.raises(AssertionError, match="mlp_gan"):
        compare("mlp_gan", tmp_path, nudge)


def compare(name, tmp_path, perturb=None):
    """Train the script on both frameworks from the same weights, batches and noise; compare."""
    torch = pytest.importorskip("torch", reason="PyTorch is the oracle here and is not installed")
    mine, theirs = on_minigan(name), on_pytorch(name)
    assert mine.torch is minigan and theirs.torch is torch
    argv = SMALL[name] + COMPARED.get(name, []) + ["--double", "--max_steps", str(STEPS), "--sample_interval",
                                                   "1000000", "--data", str(tmp_path / "data"), "--out", str(tmp_path)]
    opt = mine.parse_args(argv)
    minigan.manual_seed(0)
    torch.manual_seed(0)
    models_mine, models_theirs = mine.build(opt), theirs.build(opt)
    for m, t in zip(models_mine, models_theirs):
        assert list(m.state_dict()) == list(t.state_dict())  # the same names, so weights copy by name
        m.load_state_dict({k: v.detach().numpy() for k, v in t.state_dict().items()})
    if perturb is not None:
        perturb(*models_mine)
    batches = _batches(mine, opt, STEPS)
    np.random.seed(1)
    history_mine = mine.train(opt, *models_mine, [tuple(minigan.tensor(a) for a in b) for b in batches])
    np.random.seed(1)
    history_theirs = theirs.train(opt, *models_theirs, [tuple(torch.from_numpy(a) for a in b) for b in batches])
    assert len(history_mine) == len(history_theirs) == STEPS
    for step, (a, b) in enumerate(zip(history_mine, history_theirs)):
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_allclose(a[key], b[key], rtol=RTOL, atol=RTOL, err_msg=f"{name} step {step}: {key}")
    for m, t in zip(models_mine, models_theirs):
        theirs_params = dict(t.named_parameters())
        for key, p in m.named_parameters():
            assert (p.grad is None) == (theirs_params[key].grad is None), key
        weights = {k: (p.numpy(), theirs_params[k].detach().numpy()) for k, p in m.named_parameters()}
        grads = {k: (p.grad.numpy(), theirs_params[k].grad.numpy()) for k, p in m.named_parameters()
                 if p.grad is not None}
        _close(name, "weight", weights)
        _close(name, "gradient", grads)


def _close(name, what, pairs):
    """Each pair equal within RTOL, relative to the largest value of its kind in the model: an
    entry that is 0 in exact arithmetic (the gradient of a bias that batch norm then removes) is
    rounding noise on the scale of the sums that made it."""
    scale = max([np.abs(theirs).max() for _, theirs in pairs.values()] + [np.finfo(np.float64).tiny])
    for key, (mine, theirs) in pairs.items():
        np.testing.assert_allclose(mine, theirs, rtol=RTOL, atol=RTOL * scale, err_msg=f"{name}: {what} of {key}")
