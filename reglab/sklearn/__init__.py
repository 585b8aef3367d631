"""scikit-learn's door: estimators trained by reglab's loop, and cross-validation with the 1-SE rule."""

from reglab.sklearn.cv import RegularizationCV
from reglab.sklearn.estimators import RegularizedNetClassifier, RegularizedNetRegressor

__all__ = ["RegularizationCV", "RegularizedNetClassifier", "RegularizedNetRegressor"]
