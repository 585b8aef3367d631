"""``RegularizationCV``: k-fold cross-validation of regularization strengths with the one-standard-error rule.

For grid point i over k folds with scores sᵢₖ (higher is better) the loss is −sᵢₖ; its mean and standard
error se = sd/√k (sd with ddof = 1) give the best point (lowest mean loss: glmnet's ``lambda.min``) and the
1-SE point, the strongest one whose mean loss is within one standard error of the best (``lambda.1se``),
both by ``reglab.selection.cv_curve``. Strength is ordered knob by knob: the first knob in ``grids``
decides, the next breaks its ties, and so on; "stronger" is larger λ or p, smaller max-norm c or patience
(reglab's methods), or as ``stronger`` says; values that are not numbers (architectures) are ordered as
their grid lists them, the last strongest.

A reglab estimator scored by its own ``score`` trains all (fold × grid point) fits together through the
stacked engine; any other estimator, or another ``scoring``, is fitted one fit at a time by scikit-learn's
``cross_validate`` (``n_jobs`` in parallel). Both give the same scores, up to float32 rounding.
"""

from __future__ import annotations

import itertools
import numbers
from collections.abc import Mapping, Sequence
from copy import deepcopy

import numpy as np
from scipy.stats import rankdata
from sklearn.base import BaseEstimator, MetaEstimatorMixin, clone, is_classifier
from sklearn.metrics import check_scoring
from sklearn.model_selection import check_cv, cross_validate
from sklearn.utils import get_tags
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from reglab.engine import Job, run_jobs
from reglab.methods import METHODS
from reglab.selection.cv import DIRECTIONS, cv_curve
from reglab.sklearn.estimators import METHOD_OF, RegularizedNet

RULES = ("1se", "min")


def _delegated(method: str):
    """``method`` of the chosen ``best_estimator_``; it exists when the estimator has it."""

    def call(self, X):
        check_is_fitted(self, "best_estimator_")
        return getattr(self.best_estimator_, method)(X)

    call.__name__ = call.__qualname__ = method
    call.__doc__ = f"The chosen estimator's ``{method}``."
    return available_if(lambda self: hasattr(getattr(self, "best_estimator_", self.estimator), method))(call)


class RegularizationCV(MetaEstimatorMixin, BaseEstimator):
    """Tunes regularization strengths of ``estimator`` by k-fold CV with the one-standard-error rule.

    Args:
        estimator: a reglab estimator (stacked fast path) or any scikit-learn estimator or pipeline.
        grids: {parameter: values}, e.g. ``{"l2": np.logspace(-5, -1, 8)}``; several knobs form their product.
        cv: folds as ``GridSearchCV`` takes them (an integer: stratified for classifiers).
        rule: "1se" (the strongest point within one standard error of the best) or "min" (the best).
        scoring: None (the estimator's ``score``) or a scikit-learn scorer name or callable.
        refit: refit the chosen point on all rows as ``best_estimator_``.
        n_jobs: parallel fits on the one-at-a-time path.
        stronger: {parameter: "larger" | "smaller"}, the direction that regularizes more where it is not
            one of reglab's strengths (default "larger", as for alpha or λ; give "smaller" for C).

    Fitted attributes: ``cv_results_`` (``GridSearchCV``'s layout), ``best_index_``, ``best_params_``,
    ``best_score_`` (the chosen point's mean score), ``strength_min_`` and ``strength_1se_`` ({knob:
    value} of the best and of the 1-SE point), ``best_estimator_`` and ``n_splits_``.
    """

    def __init__(self, estimator, grids, *, cv=5, rule="1se", scoring=None, refit=True, n_jobs=None, stronger=None):
        self.estimator = estimator
        self.grids = grids
        self.cv = cv
        self.rule = rule
        self.scoring = scoring
        self.refit = refit
        self.n_jobs = n_jobs
        self.stronger = stronger

    def fit(self, X, y):
        """Score every grid point on every fold, choose by the rule, refit; returns self."""
        if self.rule not in RULES:
            raise ValueError(f"Invalid value for argument rule: expected one of {RULES}. Received: rule={self.rule!r}")
        if isinstance(self.scoring, (Sequence, Mapping)) and not isinstance(self.scoring, str):
            raise TypeError("scoring must be one scorer (a name or a callable): the rule chooses by a single score")
        grids = self._grids()
        points = [dict(zip(grids, combination)) for combination in itertools.product(*grids.values())]
        folds = list(check_cv(self.cv, y, classifier=is_classifier(self.estimator)).split(X, y))
        fast = isinstance(self.estimator, RegularizedNet) and self.scoring is None
        scores = (self._stacked_scores if fast else self._scores)(X, y, points, folds)
        curve = cv_curve(self._strength_ranks(grids, points), -scores, "larger")
        self.best_index_ = curve.one_se_index if self.rule == "1se" else curve.best_index
        self.best_params_ = points[self.best_index_]
        self.strength_min_, self.strength_1se_ = points[curve.best_index], points[curve.one_se_index]
        self.cv_results_ = _cv_results(points, scores)
        self.best_score_ = float(self.cv_results_["mean_test_score"][self.best_index_])
        self.n_splits_ = len(folds)
        if self.refit:
            self.best_estimator_ = clone(self.estimator).set_params(**self.best_params_).fit(X, y)
        return self

    def _grids(self) -> dict[str, list]:
        """The grids as {parameter: list of values}, checked against the estimator's parameters."""
        if not isinstance(self.grids, Mapping) or not self.grids:
            raise ValueError(
                f"grids must be a non-empty dict of parameter -> values, as {{'l2': [1e-4, 1e-3]}}; got {self.grids!r}"
            )
        known = self.estimator.get_params()
        unknown = [name for name in (*self.grids, *(self.stronger or {})) if name not in known]
        if unknown:
            raise ValueError(
                f"{type(self.estimator).__name__} has no parameter {unknown[0]!r} to tune: "
                f"use one of {', '.join(sorted(known))}"
            )
        grids = {}
        for name, grid in self.grids.items():
            if isinstance(grid, (str, bytes)) or not isinstance(grid, (Sequence, np.ndarray)):
                raise TypeError(f"the grid of {name} must be a list of values, not {grid!r}")
            grids[name] = grid.tolist() if isinstance(grid, np.ndarray) else list(grid)
            if not grids[name]:
                raise ValueError(f"the grid of {name} is empty: give it at least one value")
        return grids

    def _direction(self, name: str) -> str:
        given = (self.stronger or {}).get(name)
        if given is not None:
            if given not in DIRECTIONS:
                raise ValueError(
                    f"Invalid value for stronger[{name!r}]: expected one of {DIRECTIONS}. Received: {given!r}"
                )
            return given
        method = METHOD_OF.get(name.rsplit("__", 1)[-1])  # a reglab strength, also as a pipeline's step__name
        return METHODS[method].stronger if method else "larger"

    def _strength_ranks(self, grids: dict[str, list], points: list[dict]) -> np.ndarray:
        """Each point's rank from weakest (0) to strongest, knob by knob in the grids' order; a knob whose
        values are not all numbers is ordered as its grid lists them (later is stronger)."""

        def key(name: str, value) -> float:
            if all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in grids[name]):
                return float(value) if self._direction(name) == "larger" else -float(value)
            return float(grids[name].index(value))

        order = sorted(range(len(points)), key=lambda i: tuple(key(n, v) for n, v in points[i].items()))
        ranks = np.empty(len(points))
        ranks[order] = np.arange(len(points))
        return ranks

    def _scores(self, X, y, points: list[dict], folds: list) -> np.ndarray:
        """(points, folds) test scores, one fit at a time by scikit-learn's ``cross_validate``."""
        return np.array(
            [
                cross_validate(
                    clone(self.estimator).set_params(**point),
                    X,
                    y,
                    cv=folds,
                    scoring=self.scoring,
                    n_jobs=self.n_jobs,
                    error_score="raise",
                )["test_score"]
                for point in points
            ]
        )

    def _stacked_scores(self, X, y, points: list[dict], folds: list) -> np.ndarray:
        """(points, folds) scores of a reglab estimator: every fit one job, run by the engine's ``auto``
        strategy; a trial's ``eval_metric`` (accuracy or R²) is the estimator's ``score`` on its fold."""
        estimators = [clone(self.estimator).set_params(**point) for point in points]
        dataset = estimators[0]._dataset(X, y)
        jobs = [
            Job((i, k), estimator.trial_config(), train, test)
            for i, estimator in enumerate(estimators)
            for k, (train, test) in enumerate(folds)
        ]
        scores = np.full((len(points), len(folds)), np.nan)

        def record(job: Job, result) -> None:
            if result.status == "failed":
                i, k = job.tag
                raise ValueError(f"the fit of {points[i]} on fold {k} failed: {result.error}")
            scores[job.tag] = result.metrics["eval_metric"]

        run_jobs(dataset, jobs, record, strategy="auto")
        return scores

    # -- the chosen estimator's methods -------------------------------------------------------------------

    predict = _delegated("predict")
    predict_proba = _delegated("predict_proba")
    predict_log_proba = _delegated("predict_log_proba")
    decision_function = _delegated("decision_function")
    transform = _delegated("transform")

    def score(self, X, y) -> float:
        """The chosen estimator's score, by ``scoring`` when given."""
        check_is_fitted(self, "best_estimator_")
        return float(check_scoring(self.best_estimator_, self.scoring)(self.best_estimator_, X, y))

    @property
    def classes_(self) -> np.ndarray:
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.classes_

    @property
    def n_features_in_(self) -> int:
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.n_features_in_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        inner = get_tags(self.estimator)
        tags.estimator_type = inner.estimator_type
        tags.classifier_tags = deepcopy(inner.classifier_tags)
        tags.regressor_tags = deepcopy(inner.regressor_tags)
        tags.target_tags.required = inner.target_tags.required
        return tags


def _cv_results(points: list[dict], scores: np.ndarray) -> dict:
    """``GridSearchCV``'s ``cv_results_`` keys for (points, folds) test scores: params, param_<name> masked
    arrays, split<k>_test_score, mean/std (ddof = 0) and rank (1 = best; NaN ranks last)."""
    results: dict = {"params": points}
    for name in points[0]:
        values = [point[name] for point in points]
        try:
            probe = np.array(values)
        except ValueError:  # sequences of different lengths
            probe = np.array([], dtype=object)
        column = np.ma.MaskedArray(
            np.empty(len(values), dtype=probe.dtype if probe.dtype.kind != "U" and probe.ndim == 1 else object),
            mask=True,
        )
        for i, value in enumerate(values):  # as GridSearchCV fills it, so a tuple stays one value
            column[i] = value
        results[f"param_{name}"] = column
    for k in range(scores.shape[1]):
        results[f"split{k}_test_score"] = scores[:, k]
    mean = scores.mean(axis=1)
    results["mean_test_score"], results["std_test_score"] = mean, scores.std(axis=1)
    ranked = np.nan_to_num(mean, nan=np.nanmin(mean) - 1) if np.isfinite(mean).any() else np.zeros_like(mean)
    results["rank_test_score"] = rankdata(-ranked, method="min").astype(np.int32)
    return results
