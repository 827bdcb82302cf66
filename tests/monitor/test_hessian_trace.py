"""The Hessian trace monitor against exact traces."""

import numpy as np
import pytest
from monitor_problems import half_squared_error, hessian, linear_apply, orthogonal_regression

from jaxtrain import monitor, optim, train


def test_on_a_diagonal_quadratic_hutchinson_is_exact():
    x, y, theta0 = orthogonal_regression()
    _, history = train.fit(
        (linear_apply, theta0, {}),
        optim.sgd(0.01),
        (x, y),
        loss=half_squared_error,
        steps=7,
        batch_size=32,
        monitors=[monitor.hessian_trace(every=3, num_samples=4)],
        progress=False,
    )
    measured = history.per_step["hessian_trace"]
    assert np.flatnonzero(np.isfinite(measured)).tolist() == [0, 3, 6]
    np.testing.assert_allclose(measured[::3], np.trace(hessian(x)), rtol=1e-4)


@pytest.mark.parametrize(("kwargs", "match"), [({"num_samples": 0}, "num_samples")])
def test_bad_arguments_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        monitor.hessian_trace(10, **kwargs)
