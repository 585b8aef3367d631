"""reglab.compare and reglab.tune with a user's own model and data, against the same trials run by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.metrics import accuracy_score
from torch import nn

import reglab
from reglab import L2, FitConfig, Regularizers, Term, fit
from reglab.data.splits import Standardizer, holdout_split
from reglab.store import Store
from tests.own_models import ResidualMLP, build, build_without_dropout

QUICK = dict(seeds=2, folds=2, epochs=2, batch_size=32, test_size=0.25, device="cpu")


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[::3].astype(np.float32), y[::3]


def test_a_study_of_a_user_module_equals_its_trials_run_one_by_one_with_fit(digits):
    """Each seed's test score: a stratified quarter held out, features standardized on the rest, the
    builder called under the seed, reglab.fit with L2 — scored with scikit-learn's accuracy."""
    X, y = digits
    study = reglab.compare(model=build, data=(X, y), methods=["none", "l2=1e-3"], **QUICK)
    for method, penalties in (("none", []), ("l2=1e-3", [Term(L2(1e-3))])):
        by_hand = []
        for seed in range(QUICK["seeds"]):
            train, test = holdout_split(y, 0.25, seed, stratify=True)
            scaler = Standardizer.fit(X[train])
            torch.manual_seed(seed)
            model = build()
            config = FitConfig(task="classification", epochs=2, batch_size=32, seed=seed, device="cpu")
            fit(
                model,
                (scaler.transform(X[train]), y[train]),
                config=config,
                regularizers=Regularizers(penalties=penalties),
            )
            with torch.no_grad():
                predicted = model.eval()(torch.as_tensor(scaler.transform(X[test]))).argmax(1).numpy()
            by_hand.append(accuracy_score(y[test], predicted))
        summary = next(m for m in study.summary.methods if m.method == method)
        assert summary.test_values == pytest.approx(by_hand, abs=1e-12)


def test_a_residual_mlp_with_a_tunable_dropout_layer_is_compared_and_tabled(digits):
    study = reglab.compare(
        model=build,
        data=digits,
        methods=["none", "l2", "dropout", "l2+dropout"],
        grids={"l2": [1e-4, 1e-2], "dropout": [0.2, 0.5]},
        **QUICK,
    )
    frame = study.to_frame()
    assert list(frame.index) == ["none", "l2", "dropout", "l2+dropout"]
    assert {"chosen", "train", "test", "test_low", "test_high", "gap", "zeros", "weight_norm", "p_vs_none"} <= set(
        frame.columns
    )
    assert frame.loc["dropout", "chosen"].startswith("dropout=")
    text = study.table()
    assert "l2+dropout" in text and ("Winner" in text or "No winner" in text)
    if study.winner is not None:  # the winner with the strengths its seeds chose
        chosen = next(m for m in study.summary.methods if m.method == study.winner).chosen
        reg = study.best_regularization()
        assert all(getattr(reg, name.replace("-", "_")) == value for name, value in chosen[0].items())
    # dropout was in force: with the same seed (same initialization and minibatches) the only difference
    # between the none and the dropout test trials is the mask, and their training losses differ
    trials = study.store.trials(study.store.study(study.name).id)
    losses = {r.method: r.metrics["train_loss"] for r in trials if r.stage == "test" and r.seed == 0}
    assert losses["dropout"] != losses["none"]


def test_a_dropout_method_without_a_tunable_layer_fails_before_anything_is_stored(digits, tmp_path):
    path = tmp_path / "s.sqlite"
    with pytest.raises(ValueError, match=r"add a tunable reglab\.Dropout\(\) layer"):
        reglab.compare(model=build_without_dropout, data=digits, methods=["none", "dropout"], store=path, **QUICK)
    with Store(path) as store:
        assert store.studies() == []


def test_a_module_instance_is_copied_and_reinitialized_per_trial():
    """A 1-D CNN instance on MNIST-1D signals, with its own 4000/1000 split kept as the test set."""
    cnn = nn.Sequential(nn.Conv1d(1, 4, 5, padding=2), nn.ReLU(), nn.MaxPool1d(4), nn.Flatten(), nn.Linear(40, 10))
    before = [p.detach().clone() for p in cnn.parameters()]
    study = reglab.compare(
        model=cnn, data="mnist1d-signals", methods=["none"], seeds=2, folds=2, epochs=1, batch_size=256, device="cpu"
    )
    assert all(torch.equal(a, b) for a, b in zip(before, cnn.parameters()))  # the user's instance is untouched
    trials = study.store.trials(study.store.study(study.name).id)
    assert [r.stage for r in trials] == ["test", "test"]
    assert 0.1 < study.summary.methods[0].test_metric.mean <= 1.0
    # the two seeds' models started from different initializations: their final norms differ
    norms = [r.metrics["weight_norm"] for r in trials]
    assert norms[0] != norms[1]


def test_a_parameterized_module_without_reset_parameters_asks_for_a_builder():
    class Scale(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.ones(64))

        def forward(self, x):
            return x * self.w

    with pytest.raises(TypeError, match="pass a builder"):
        reglab.compare(model=nn.Sequential(Scale(), nn.Linear(64, 10)), data="digits", methods=["none"], **QUICK)


def test_a_dataframe_with_string_labels_and_a_separate_test_set(digits):
    X, y = digits
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])
    frame = pd.DataFrame(X, columns=[f"p{i}" for i in range(64)]).assign(label=names[y])
    train, test = frame.iloc[:450], frame.iloc[450:]
    study = reglab.compare(model=build, data=train, target="label", test_data=test, methods=["none"], **QUICK)
    trials = study.store.trials(study.store.study(study.name).id)
    assert study.summary.task == "classification" and len(trials) == 2
    model_scores = [r.metrics["eval_metric"] for r in trials]
    assert all(0.3 < s <= 1 for s in model_scores)


def test_the_test_set_given_is_the_test_set_used(digits):
    """With test_data, every seed scores on exactly those rows: a test set of one repeated row gives each
    seed an accuracy of 0 or 1."""
    X, y = digits
    Xt, yt = np.repeat(X[:1], 20, axis=0), np.repeat(y[:1], 20)
    study = reglab.compare(model=build, data=(X, y), test_data=(Xt, yt), methods=["none"], **QUICK)
    assert set(study.summary.methods[0].test_values) <= {0.0, 1.0}


def test_regression_is_inferred_from_a_float_target_and_tensors_work():
    rng = np.random.default_rng(0)
    X = torch.as_tensor(rng.normal(size=(120, 5)), dtype=torch.float32)
    y = X @ torch.arange(1.0, 6.0) + 0.1 * torch.as_tensor(rng.normal(size=120), dtype=torch.float32)
    study = reglab.tune("l2", data=(X, y), model=lambda: nn.Linear(5, 1), grid=[1e-4, 1e-1], **QUICK)
    assert study.summary.task == "regression" and study.summary.metric == "r2"
    assert study.summary.methods[0].curves  # the validation curve of each seed


def test_the_report_of_an_in_memory_study_needs_a_path_and_writes_one(digits, tmp_path):
    study = reglab.compare(model=ResidualMLP, data=digits, methods=["none"], **QUICK)
    with pytest.raises(ValueError, match="needs a path"):
        study.report()
    out = study.report(tmp_path / "r.html")
    assert out.read_text().startswith("<!DOCTYPE html>") or "<html" in out.read_text()[:500]
    assert "<table" in study._repr_html_()


@pytest.mark.parametrize(
    "kwargs, error, says",
    [
        (dict(model=lambda: "no model"), TypeError, "not a torch.nn.Module"),
        (dict(model=lambda: nn.Linear(64, 3)), ValueError, r"shape \(2, 3\), not \(2, 10\)"),
        (dict(model=lambda: nn.Linear(10, 10)), ValueError, "cannot take samples of shape"),
        (dict(model=build, bogus=1), TypeError, "unknown study settings"),
        (dict(model=build, task="ranking"), ValueError, "task"),
    ],
)
def test_bad_python_input_is_one_line_errors(digits, kwargs, error, says):
    with pytest.raises(error, match=says) as raised:
        reglab.compare(data=digits, methods=["none"], **{**QUICK, **kwargs})
    assert "\n" not in str(raised.value)


def smoothed_cross_entropy(output, y, smoothing=0.1):
    """Label smoothing written by hand: (1 − ε)·CE(y) + ε·mean over classes of −log p."""
    log_p = torch.log_softmax(output, dim=1)
    return ((1 - smoothing) * -log_p.gather(1, y[:, None]).squeeze(1) - smoothing * log_p.mean(dim=1)).mean()


def macro_f1(output, y):
    from sklearn.metrics import f1_score

    return f1_score(y.numpy(), output.argmax(1).numpy(), average="macro")


def test_a_users_loss_and_metric_train_and_score_the_study(digits):
    """The hand-written smoothed loss trains as PyTorch's CrossEntropyLoss(label_smoothing=0.1) does, and the
    test scores are scikit-learn's macro F1 of that model."""
    X, y = digits
    study = reglab.compare(
        model=build, data=(X, y), methods=["none"], loss=smoothed_cross_entropy, metric=macro_f1, **QUICK
    )
    from sklearn.metrics import f1_score

    by_hand = []
    for seed in range(QUICK["seeds"]):
        train, test = holdout_split(y, 0.25, seed, stratify=True)
        scaler = Standardizer.fit(X[train])
        torch.manual_seed(seed)
        model = build()
        config = FitConfig(
            task="classification",
            epochs=2,
            batch_size=32,
            seed=seed,
            device="cpu",
            loss=nn.CrossEntropyLoss(label_smoothing=0.1),
        )
        fit(model, (scaler.transform(X[train]), y[train]), config=config)
        with torch.no_grad():
            predicted = model.eval()(torch.as_tensor(scaler.transform(X[test]))).argmax(1).numpy()
        by_hand.append(f1_score(y[test], predicted, average="macro"))
    assert study.summary.metric == "macro_f1"
    assert study.summary.methods[0].test_values == pytest.approx(by_hand, abs=1e-6)


def test_a_metric_where_lower_is_better_picks_the_lowest_as_winner(digits):
    def error_rate(output, y):
        return (output.argmax(1) != y).double().mean().item()

    study = reglab.compare(
        model=build, data=digits, methods=["none", "l2=0.3"], metric=error_rate, greater_is_better=False, **QUICK
    )
    means = {m.method: m.test_metric.mean for m in study.summary.methods}
    assert means["none"] != means["l2=0.3"] and study.winner == min(means, key=means.get)
    assert "(lower is better)" in study.table() and "by -" not in study.table()


def test_a_loss_that_is_not_a_scalar_fails_before_training(digits):
    def per_row(output, y):
        return nn.functional.cross_entropy(output, y, reduction="none")

    with pytest.raises(ValueError, match="scalar"):
        reglab.compare(model=build, data=digits, methods=["none"], loss=per_row, **QUICK)


class DigitImages(torch.utils.data.Dataset):
    """The digits as 1×8×8 images; with ``shift`` each item is rolled by −1, 0 or 1 pixel (a random transform)."""

    def __init__(self, X, y, shift: bool) -> None:
        self.images, self.targets, self.shift = torch.as_tensor(X.reshape(-1, 1, 8, 8) / 16.0), y, shift

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i):
        image = self.images[i]
        if self.shift:
            image = torch.roll(image, int(torch.randint(-1, 2, ())), dims=2)
        return image, int(self.targets[i])


def small_cnn() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), reglab.Dropout(), nn.Linear(256, 10))


def test_a_torch_dataset_with_its_own_transform_trains_through_a_dataloader(digits):
    """Training images shifted at random, a fixed test set: each seed's test score equals reglab.fit on the
    whole Dataset under that seed, scored by scikit-learn on the test images."""
    X, y = digits
    train, test = DigitImages(X[:450], y[:450], shift=True), DigitImages(X[450:], y[450:], shift=False)
    study = reglab.compare(model=small_cnn, data=train, test_data=test, methods=["none", "dropout=0.3"], **QUICK)
    for method in ("none", "dropout=0.3"):
        by_hand = []
        for seed in range(QUICK["seeds"]):
            torch.manual_seed(seed)
            model = small_cnn()
            reglab.regularizers.dropout.set_rates(model, {"dropout": 0.3 if method != "none" else 0.0})
            fit(model, train, config=FitConfig(task="classification", epochs=2, batch_size=32, seed=seed, device="cpu"))
            with torch.no_grad():
                predicted = model.eval()(test.images.float()).argmax(1).numpy()
            by_hand.append(accuracy_score(y[450:], predicted))
        summary = next(m for m in study.summary.methods if m.method == method)
        assert summary.test_values == pytest.approx(by_hand, abs=1e-12)


def test_a_dataset_whose_items_are_not_pairs_is_refused_in_one_line():
    class Images(torch.utils.data.Dataset):
        def __len__(self):
            return 10

        def __getitem__(self, i):
            return torch.zeros(1, 8, 8)

    with pytest.raises(ValueError, match=r"\(input, target\) pairs"):
        reglab.compare(model=small_cnn, data=Images(), methods=["none"], **QUICK)


def test_params_patterns_choose_what_the_penalties_touch(digits):
    """L2 on the head alone: the study's stem weights train as without any penalty (they equal none's)."""
    X, y = digits
    kwargs = dict(model=build, data=(X, y), **{**QUICK, "seeds": 1})
    head_only = reglab.compare(methods=["l2=0.5"], params=["head.weight"], **kwargs)
    everywhere = reglab.compare(methods=["l2=0.5"], **kwargs)
    none = reglab.compare(methods=["none"], **kwargs)
    head, every, plain = (s.summary.methods[0].weight_norm for s in (head_only, everywhere, none))
    assert every < head < plain
    with pytest.raises(ValueError, match="no parameter matches"):
        reglab.compare(methods=["l2=0.5"], params=["tail.*"], **kwargs)


def test_the_study_says_how_each_trial_ran_and_why(digits):
    """reglab's MLP stacks; a user's module stacks through torch.func, its dropout trials beside the others."""
    own = reglab.compare(model=build, data=digits, methods=["none", "dropout=0.3"], **QUICK)
    ours = reglab.compare(
        model={"kind": "mlp", "hidden": [16]}, data=digits, methods=["none", "l2"], grids={"l2": [1e-4, 1e-2]}, **QUICK
    )
    assert own.ran() == {
        "none": {"stacked with 4 through torch.func": 2},
        "dropout=0.3": {"stacked with 4 through torch.func": 2},
    }
    assert ours.ran()["l2"] and all(how.startswith("stacked with") for how in ours.ran()["l2"])


def test_a_users_regression_metric_sees_the_target_in_its_own_units():
    """MAE of a model that learns nothing (lr tiny: it predicts about 0 in standardized units, i.e. the
    training mean) equals scikit-learn's MAE of the training mean, in the target's units (y ≈ 1000 ± 50)."""
    from sklearn.metrics import mean_absolute_error

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3)).astype(np.float32)
    y = (1000 + 50 * rng.normal(size=200)).astype(np.float64)

    def mae(output, target):
        return (output.reshape(target.shape) - target).abs().mean().item()

    study = reglab.compare(
        model=lambda: nn.Linear(3, 1),
        data=(X, y),
        methods=["none"],
        metric=mae,
        greater_is_better=False,
        lr=1e-9,
        **{**QUICK, "seeds": 1},
    )
    train, test = holdout_split(y, 0.25, 0, stratify=False)
    torch.manual_seed(0)
    start = nn.Linear(3, 1)  # the untrained model's standardized predictions, back in units
    Xs = Standardizer.fit(X[train]).transform(X[test])
    with torch.no_grad():
        predicted = start(torch.as_tensor(Xs)).numpy().ravel() * y[train].std() + y[train].mean()
    expected = mean_absolute_error(y[test], predicted)
    assert study.summary.methods[0].test_metric.mean == pytest.approx(expected, rel=1e-4)
    assert expected > 10  # in units: about 40, not about 0.8 as in standardized units


def test_resuming_a_study_on_other_data_is_refused(digits, tmp_path):
    X, y = digits
    kwargs = dict(model=build, methods=["none"], store=tmp_path / "s.sqlite", name="s", **QUICK)
    reglab.compare(data=(X, y), **kwargs)
    assert reglab.compare(data=(X, y), resume=True, **kwargs).summary.methods[0].test_values
    with pytest.raises(ValueError, match="data_fingerprint"):
        reglab.compare(data=(X[::-1].copy(), y[::-1].copy()), resume=True, **kwargs)
    with pytest.raises(ValueError, match="data_fingerprint"):
        reglab.compare(data=(X, y), test_data=(X[:20], y[:20]), resume=True, **kwargs)


@pytest.mark.parametrize(
    "kwargs, says",
    [
        (dict(loss=lambda output, y: output.nosuch()), "the loss fails: AttributeError"),
        (dict(metric=lambda output, y: "high"), "the metric must return one number"),
        (dict(metric=lambda output, y: output.argmax(1) == y), "the metric must return one number"),
    ],
)
def test_a_failing_loss_or_metric_is_one_line_before_training(digits, kwargs, says):
    with pytest.raises(ValueError, match=says):
        reglab.compare(model=build, data=digits, methods=["none"], **{**QUICK, **kwargs})


def test_a_model_whose_forward_asserts_is_one_line(digits):
    class Picky(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(64, 10)

        def forward(self, x):
            assert x.shape[1] == 5, "five features only"
            return self.linear(x)

    with pytest.raises(ValueError, match="cannot take samples of shape .*AssertionError: five features only"):
        reglab.compare(model=Picky, data=digits, methods=["none"], **QUICK)
