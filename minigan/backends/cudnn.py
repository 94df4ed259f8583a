"""``torch.backends.cudnn`` for scripts that set its flags (``cudnn.benchmark = True``).

minigan does not use cuDNN: a convolution is im2col and a matmul, on CuPy as on NumPy, and is
the same on every call. So ``benchmark`` (let cuDNN time its algorithms and pick the fastest)
and ``deterministic`` (ask for reproducible algorithms) change nothing here; they are
accepted so that such scripts run. minigan's convolutions are deterministic, as
``deterministic = True`` asks.
"""
enabled = True
benchmark = False
deterministic = False


def is_available() -> bool:
    """False: minigan never calls cuDNN."""
    return False


def version():
    """None: no cuDNN is loaded."""
    return None
