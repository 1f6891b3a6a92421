"""L2-regularised logistic regression fitted by Newton's method, in numpy.

Why not scikit-learn: the refusal head is 771 weights, and fitting it exactly (the loss is convex,
Newton's method converges to its one minimum in a few steps, no random start, no shuffling)
makes training reproducible without a seed and keeps scikit-learn out of the package. The loss
is scikit-learn's: sum of log losses + ||w||^2 / (2 C), the intercept not penalised.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Logistic:
    weights: list[float]
    intercept: float

    def probability(self, X):
        """P(class 1) for each row of X."""
        import numpy as np

        return _sigmoid(np.asarray(X, dtype="float64") @ np.asarray(self.weights) + self.intercept)


def fit(X, y, *, C: float = 1.0, tolerance: float = 1e-10, max_steps: int = 100) -> Logistic:
    """The minimum of the regularised log loss; y holds 0 / 1."""
    import numpy as np

    X = np.asarray(X, dtype="float64")
    y = np.asarray(y, dtype="float64")
    if X.ndim != 2 or len(X) != len(y) or not len(y):
        raise ValueError(f"fit: X must be (n, d) and y (n,), got {X.shape} and {y.shape}")
    if not set(np.unique(y)) <= {0.0, 1.0} or len(np.unique(y)) < 2:
        raise ValueError("fit: y must hold both classes, as 0 and 1")
    if C <= 0:
        raise ValueError(f"fit: C must be positive, got {C}")
    A = np.hstack([X, np.ones((len(X), 1))])  # the intercept as a last, unpenalised column
    penalty = np.full(A.shape[1], 1.0 / C)
    penalty[-1] = 0.0
    theta = np.zeros(A.shape[1])
    for _ in range(max_steps):
        p = _sigmoid(A @ theta)
        gradient = A.T @ (p - y) + penalty * theta
        hessian = (A * (p * (1 - p))[:, None]).T @ A + np.diag(penalty)
        step = np.linalg.solve(hessian, gradient)
        theta -= step
        if np.max(np.abs(step)) < tolerance:
            break
    return Logistic([float(w) for w in theta[:-1]], float(theta[-1]))


def _sigmoid(z):
    import numpy as np

    return 0.5 * (1.0 + np.tanh(0.5 * z))  # stable for large |z|
