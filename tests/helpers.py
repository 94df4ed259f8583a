"""Strategies and checks shared by the op tests."""
import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigan


def shapes(min_dims=0, max_dims=3, min_side=1, max_side=4):
    """Small array shapes (gradcheck costs two forwards per element)."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


def broadcastable_pair(max_dims=3, max_side=4):
    """Two shapes that broadcast together (either may have fewer axes or size-1 axes)."""
    return hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=max_dims,
                                             max_side=max_side).map(lambda r: r.input_shapes)


@st.composite
def arrays(draw, shape, low=-2.0, high=2.0, away_from=(), margin=0.1):
    """A float64 array with values in [low, high], each at least ``margin`` from every kink in
    ``away_from`` (kept off kinks by construction: values are pushed out of the margin)."""
    seed = draw(st.integers(0, 2**32 - 1))
    values = np.random.default_rng(seed).uniform(low, high, size=shape)
    for kink in away_from:
        near = np.abs(values - kink) < margin
        values = np.where(near, kink + np.where(values >= kink, margin, -margin) * 1.5, values)
    return values


def leaf(values, device, requires_grad=True):
    """A float64 leaf tensor on ``device``."""
    return minigan.tensor(np.asarray(values, dtype=np.float64), requires_grad=requires_grad, device=device)
