"""Selection: CV curves and the 1-SE rule, ridge LOO/GCV, lasso AIC/BIC, regularization paths, paired tests."""

from reglab.selection.cv import CVCurve, cv_curve
from reglab.selection.linear import (
    LassoICResult,
    Path,
    RidgeGCVResult,
    lambda_max,
    lasso_ic,
    regularization_path,
    ridge_gcv,
)
from reglab.selection.stats import Paired, mean_interval, paired_comparison

__all__ = [
    "CVCurve",
    "LassoICResult",
    "Paired",
    "Path",
    "RidgeGCVResult",
    "cv_curve",
    "lambda_max",
    "lasso_ic",
    "mean_interval",
    "paired_comparison",
    "regularization_path",
    "ridge_gcv",
]
