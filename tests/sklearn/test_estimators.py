"""The estimators against references: closed-form ridge, the study engine's trial, label encodings, pickling."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, make_regression
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn

import reglab
from reglab.data.sources import as_dataset
from reglab.methods import Regularization
from reglab.models import ModelSpec
from reglab.regularizers.conversions import to_sklearn_ridge
from reglab.sklearn import RegularizedNetClassifier, RegularizedNetRegressor
from reglab.training import FitConfig
from reglab.trial import TrialConfig, run_trial

SMALL = dict(hidden_layer_sizes=(8,), epochs=5, learning_rate=1e-2, random_state=0, device="cpu")


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    return X[:300], y[:300]


@pytest.mark.parametrize(
    "params, spec",
    [
        (dict(regularization="l2+dropout=0.2", l2=1e-3), "l2=1e-3+dropout=0.2"),
        (dict(label_smoothing=0.1, mixup=0.4, sam=0.05, ema=0.9), "label-smoothing=0.1+mixup=0.4+sam=0.05+ema=0.9"),
    ],
)
def test_a_fit_is_the_study_engines_trial(cancer, params, spec):
    """The weights and history of the trial that ``spec`` runs, bit for bit, whether its strengths come as
    parameters (the modern recipes' too) or in the spec; and not those of a fit without them."""
    X, y = cancer
    net = RegularizedNetClassifier((16,), epochs=4, random_state=7, device="cpu", **params).fit(X, y)
    config = TrialConfig(
        Regularization.parse(spec),
        ModelSpec(hidden=(16,)),
        FitConfig(epochs=4, lr=1e-3, batch_size=64, seed=7, device="cpu"),
    )
    rows = np.arange(len(y))
    _, trial = run_trial(as_dataset((X, y), task="classification"), rows, rows, config)
    for name, weight in trial.model.state_dict().items():
        torch.testing.assert_close(net.module_.state_dict()[name], weight, rtol=0, atol=0)
    assert [r["train_loss"] for r in net.history_] == [r["train_loss"] for r in trial.history]
    plain = RegularizedNetClassifier((16,), epochs=4, random_state=7, device="cpu").fit(X, y)
    assert not torch.equal(plain.module_.state_dict()["1.weight"], net.module_.state_dict()["1.weight"])


def test_linear_regressor_with_l2_is_ridge_on_standardized_features():
    """Objective mean (y − ŷ)² + (λ/2)‖w‖² on standardized X is Ridge with alpha = λn/2."""
    X, y = make_regression(120, 6, noise=10.0, random_state=0)
    net = RegularizedNetRegressor(
        (), l2=0.1, optimizer="adam", learning_rate=0.05, batch_size=None, epochs=400, random_state=0
    ).fit(X, y)
    ridge = make_pipeline(StandardScaler(), Ridge(alpha=to_sklearn_ridge(0.1, len(y)))).fit(X, y)
    np.testing.assert_allclose(net.predict(X), ridge.predict(X), rtol=0, atol=1e-4 * np.abs(y).max())


@pytest.mark.parametrize("labels", [np.array(["cat", "dog"]), np.array([7, 42])])
def test_labels_of_any_kind_fit_as_their_codes(cancer, labels):
    X, y = cancer
    coded = RegularizedNetClassifier(**SMALL).fit(X, y)
    named = RegularizedNetClassifier(**SMALL).fit(X, labels[y])
    np.testing.assert_array_equal(named.classes_, np.sort(labels))
    np.testing.assert_array_equal(named.predict(X), labels[coded.predict(X)])
    np.testing.assert_array_equal(named.predict_proba(X), coded.predict_proba(X))


def test_probabilities_and_decisions_are_the_logits_seen_by_softmax(cancer):
    X, y = cancer
    net = RegularizedNetClassifier(**SMALL).fit(X, y)
    proba = net.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    odds = np.log(proba[:, 1] / proba[:, 0])
    np.testing.assert_allclose(net.decision_function(X), odds, rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(net.predict(X), (odds > 0).astype(int))


def test_pickle_keeps_the_state_dict_and_the_predictions(cancer):
    X, y = cancer
    net = RegularizedNetClassifier(**SMALL).fit(X, y)
    data = pickle.dumps(net)
    assert b"torch.nn.modules" not in data  # the weights travel as a state dict, not as a pickled module
    again = pickle.loads(data)
    np.testing.assert_array_equal(again.predict_proba(X), net.predict_proba(X))
    copy = clone(net)
    assert copy.get_params() == net.get_params() and not hasattr(copy, "module_")


def test_a_bare_method_in_the_spec_takes_the_parameter():
    reg = RegularizedNetClassifier(regularization="l2+dropout=0.3", l2=0.01).regularization_config()
    assert (reg.l2, reg.dropout, reg.tuned) == (0.01, 0.3, ())
    assert RegularizedNetClassifier(regularization="l1=1e-3", dropout=0.5).regularization_config().dropout == 0.5


@pytest.mark.parametrize(
    "params, message",
    [
        (dict(regularization="l2=1e-3", l2=0.01), "l2 is set twice"),
        (dict(l1_ratio=0.2), "set elasticnet too"),
        (dict(regularization=["l2"]), "spec string"),
        (dict(random_state=-1), "random_state"),
        (dict(hidden_layer_sizes=(), dropout=0.5), "no layer for it"),
    ],
)
def test_bad_settings_fail_in_one_line_at_fit(cancer, params, message):
    X, y = cancer
    with pytest.raises((ValueError, TypeError), match=message) as error:
        RegularizedNetClassifier(**{**SMALL, **params}).fit(X, y)
    assert "\n" not in str(error.value)


def small_net() -> nn.Module:
    return nn.Sequential(nn.Linear(30, 12), nn.Tanh(), reglab.Dropout(), nn.Linear(12, 2))


def test_a_users_module_gets_its_dropout_rate_and_trains(cancer):
    X, y = cancer
    net = RegularizedNetClassifier(module=small_net, dropout=0.4, epochs=10, random_state=0).fit(X, y)
    assert [m.p for m in net.module_.modules() if isinstance(m, reglab.Dropout)] == [0.4]
    assert net.score(X, y) > 0.9
    again = pickle.loads(pickle.dumps(net))
    np.testing.assert_array_equal(again.predict(X), net.predict(X))
    with pytest.raises(ValueError, match="no place in this model"):
        RegularizedNetClassifier(module=small_net, gaussian_dropout=0.4, epochs=1).fit(X, y)


def test_a_diverged_fit_warns_and_names_the_remedy(cancer):
    X, y = cancer
    with pytest.warns(RuntimeWarning, match="diverged.*lower learning_rate"):
        RegularizedNetClassifier((8,), optimizer="sgd", learning_rate=1e6, epochs=3, random_state=0).fit(X, y)


def test_a_module_with_the_wrong_number_of_outputs_is_refused_before_training():
    X, y = np.random.default_rng(0).normal(size=(40, 4)), np.array([0, 1] * 20)
    with pytest.raises(ValueError, match=r"shape \(2, 5\), not \(2, 2\)"):
        RegularizedNetClassifier(module=lambda: nn.Linear(4, 5), epochs=1).fit(X, y)


def test_fitting_leaves_the_callers_random_state_alone():
    X, y = np.random.default_rng(0).normal(size=(40, 4)), np.array([0, 1] * 20)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    RegularizedNetClassifier(hidden_layer_sizes=(8,), epochs=1, random_state=0).fit(X, y)
    assert torch.equal(torch.rand(3), expected)


def test_an_exact_history_scores_the_training_rows(cancer):
    """history="exact": the last epoch's train_metric is the fitted model's accuracy on its training rows
    (scikit-learn's score); an unknown history is refused at fit in one line."""
    X, y = cancer
    net = RegularizedNetClassifier(**SMALL, history="exact").fit(X, y)
    assert net.history_[-1]["train_metric"] == pytest.approx(net.score(X, y), abs=1e-12)
    with pytest.raises(ValueError, match=r"^Invalid value for argument history: .*Received: history='daily'$"):
        RegularizedNetClassifier(**SMALL, history="daily").fit(X, y)


def test_adaptive_sam_is_a_parameter_that_needs_sam():
    assert RegularizedNetClassifier(sam=0.5, sam_adaptive=True).regularization_config().label == "sam=0.5+sam-adaptive"
    with pytest.raises(ValueError, match="give it with sam"):
        RegularizedNetClassifier(sam_adaptive=True).regularization_config()
