"""minigan.cpu: a training step reuses freed memory instead of faulting in fresh pages."""
import os
import subprocess
import sys
import textwrap

import pytest



def _glibc() -> bool:
    try:
        return sys.platform.startswith("linux") and os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc")
    except (AttributeError, ValueError, OSError):
        return False


GLIBC = _glibc()
pytestmark = pytest.mark.skipif(not GLIBC, reason="the malloc tuning is glibc's (Linux); elsewhere it does nothing")

STEP_FAULTS = textwrap.dedent("""
    import resource
    import minigan
    from minigan import optim
    from minigan.gan import GANTrainer, dcgan_discriminator, dcgan_generator, get_loss
    G, D = dcgan_generator(), dcgan_discriminator()
    trainer = GANTrainer(G, D, optim.Adam(G.parameters()), optim.Adam(D.parameters()), get_loss("non-saturating"))
    real = minigan.rand(16, 1, 28, 28) * 2 - 1
    for _ in range(3):
        trainer.step(real)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(3):
        trainer.step(real)
    print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 3)
""")


def faults_per_step(**env):
    """Minor page faults per DCGAN iteration (batch 16) in a fresh process, after warm-up."""
    done = subprocess.run([sys.executable, "-c", STEP_FAULTS], capture_output=True, text=True, check=True,
                          env={**os.environ, "OPENBLAS_NUM_THREADS": "1", **env})
    return float(done.stdout.strip())


def test_a_training_step_reuses_memory_instead_of_faulting():
    """With glibc's defaults a batch-16 step faults in ~2,000 fresh pages (each zeroed by the
    kernel); with the pages kept, a few dozen."""
    assert faults_per_step() < 500


def test_the_environment_wins_over_minigan():
    """MALLOC_MMAP_THRESHOLD_ set by the user: minigan leaves malloc alone (here a small
    threshold, so the step faults as glibc's defaults make it)."""
    done = subprocess.run([sys.executable, "-c", "import minigan.cpu as c; print(c.retain_freed_memory())"],
                          capture_output=True, text=True, check=True,
                          env={**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072"})
    assert done.stdout.strip() == "False"
    assert faults_per_step(MALLOC_MMAP_THRESHOLD_="131072") > 1000
