"""Studies of a user's own data: defaults right for any data, inputs of several tensors, and bad input — each
against an independent reference (scikit-learn's split, the same trials trained by hand with ``fit``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split
from torch import nn
from torch.utils.data import Dataset, Subset

import reglab
from reglab import L2, FitConfig, Regularizers, Term, fit
from reglab.cli import build_parser
from reglab.cli.options import settings_from_args
from reglab.data import as_dataset
from reglab.data.splits import Standardizer, holdout_split
from reglab.regularizers.augment import GaussianNoise
from reglab.regularizers.dropout import set_rates
from reglab.study import StudySettings
from reglab.study.plan import seed_split

QUICK = dict(seeds=2, folds=2, epochs=3, batch_size=32, device="cpu")
CATEGORIES = 5


def table_of_codes_and_numbers(n: int = 240, seed: int = 0) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
    """Two categorical columns (codes 0..4) and three numbers; the label depends on the first category and the
    first number, so a model must read both."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, CATEGORIES, size=(n, 2))
    numbers = rng.normal(3.0, 2.0, size=(n, 3))
    label = ((codes[:, 0] >= 2) ^ (numbers[:, 0] > 3.0)).astype(np.int64)
    return (codes, numbers), label


class EmbeddingNet(nn.Module):
    """An embedding per categorical column, concatenated with the numbers, then an MLP with tunable dropout."""

    def __init__(self) -> None:
        super().__init__()
        self.embeddings = nn.ModuleList(nn.Embedding(CATEGORIES, 4) for _ in range(2))
        self.body = nn.Sequential(nn.Linear(2 * 4 + 3, 16), nn.ReLU(), reglab.Dropout(), nn.Linear(16, 2))

    def forward(self, x):
        codes, numbers = (x["codes"], x["numbers"]) if isinstance(x, dict) else x
        embedded = [embedding(codes[:, i]) for i, embedding in enumerate(self.embeddings)]
        return self.body(torch.cat([*embedded, numbers], dim=1))


class Items(Dataset):
    """A map-style Dataset of ({"codes", "numbers"}, label) items, or (codes, numbers) pairs."""

    def __init__(self, kind: str = "dict", odd_item: int | None = None) -> None:
        (codes, numbers), label = table_of_codes_and_numbers()
        self.codes, self.numbers, self.label = torch.as_tensor(codes), torch.as_tensor(numbers).float(), label
        self.kind, self.odd_item = kind, odd_item

    def __len__(self) -> int:
        return len(self.label)

    def __getitem__(self, i: int):
        if self.kind == "tuple":
            return (self.codes[i], self.numbers[i]), int(self.label[i])
        key = "other" if i == self.odd_item else "numbers"
        return {"codes": self.codes[i], key: self.numbers[i]}, int(self.label[i])


def test_the_default_test_split_is_a_stratified_fifth_as_scikit_learn_draws_it():
    (codes, numbers), y = table_of_codes_and_numbers(n=237)
    dataset = as_dataset((numbers, y))
    for seed in range(3):
        split = seed_split(dataset, StudySettings(data="arrays"), seed)
        _, test = train_test_split(np.arange(len(y)), test_size=0.2, stratify=y, random_state=seed)
        assert np.bincount(y[split.test]).tolist() == np.bincount(y[test]).tolist()
        assert len(split.test) == len(test) == 48  # ⌈0.2·237⌉


def test_the_command_line_without_data_runs_the_demo_study_and_with_data_the_general_defaults():
    parser = build_parser()
    demo = settings_from_args(parser.parse_args(["compare"]))
    before = dict(data="digits", test_size=0.85, epochs=50, seeds=5, folds=3, lr=1e-3, batch_size=64, grid_size=4)
    assert {key: getattr(demo, key) for key in before} == before  # the demo's table as it was
    assert demo.model.hidden == (256,) and demo.methods == (
        "none",
        "l1",
        "l2",
        "dropout",
        "early-stopping",
        "l2+dropout",
    )
    own = settings_from_args(parser.parse_args(["compare", "--data", "wine"]))
    assert (own.test_size, own.epochs, own.model.hidden) == (0.2, FitConfig().epochs, (128,))
    assert settings_from_args(parser.parse_args(["compare", "--methods", "none"])).test_size == 0.85


def test_compare_needs_data():
    with pytest.raises(TypeError, match="data"):
        reglab.compare(model=EmbeddingNet, methods=["none"])


@pytest.mark.parametrize("strategy", ["sequential", "auto"])
def test_an_embedding_model_on_codes_and_numbers_equals_its_trials_run_by_hand(strategy):
    """A stratified fifth held out per seed; the numbers standardized on the training rows, the codes as they
    are; the builder called under the seed; ``fit`` with L2 — scored with scikit-learn's accuracy."""
    (codes, numbers), y = table_of_codes_and_numbers()
    study = reglab.compare(
        data=({"codes": codes, "numbers": numbers}, y),
        model=EmbeddingNet,
        methods=["none", "l2=1e-3", "dropout=0.3"],
        strategy=strategy,
        **QUICK,
    )
    for method, penalties, rate in (("none", [], 0.0), ("l2=1e-3", [Term(L2(1e-3))], 0.0), ("dropout=0.3", [], 0.3)):
        by_hand = []
        for seed in range(QUICK["seeds"]):
            train, test = holdout_split(y, 0.2, seed, stratify=True)
            scaler = Standardizer.fit(numbers[train])
            torch.manual_seed(seed)
            model = EmbeddingNet()
            set_rates(model, {"dropout": rate})
            inputs = {"codes": codes[train], "numbers": scaler.transform(numbers[train])}
            config = FitConfig(task="classification", epochs=3, batch_size=32, seed=seed, device="cpu")
            fit(model, (inputs, y[train]), config=config, regularizers=Regularizers(penalties=penalties))
            with torch.no_grad():
                held_out = {
                    "codes": torch.as_tensor(codes[test]),
                    "numbers": torch.as_tensor(scaler.transform(numbers[test])),
                }
                predicted = model.eval()(held_out).argmax(1).numpy()
            by_hand.append(accuracy_score(y[test], predicted))
        summary = next(m for m in study.summary.methods if m.method == method)
        assert summary.test_values == pytest.approx(by_hand, abs=1e-12)
    assert "train 192 · test 48 (random 20%, stratified) · 2-fold CV on the train rows" in study.title
    if strategy == "auto":  # inputs of several tensors stack through torch.func
        assert all(how.startswith("stacked with") for counts in study.ran().values() for how in counts)
    assert "train 192 · test 48 (random 20%, stratified)" in study.table()


@pytest.mark.parametrize("kind", ["dict", "tuple"])
def test_a_dataset_of_several_tensor_inputs_trains_on_four_fifths_and_equals_fit_on_its_subsets(kind):
    data = Items(kind)
    study = reglab.compare(data=data, model=EmbeddingNet, methods=["none", "dropout=0.3"], **QUICK)
    assert "train 192 · test 48 (random 20%, stratified)" in study.title
    for method, rate in (("none", 0.0), ("dropout=0.3", 0.3)):
        by_hand = []
        for seed in range(QUICK["seeds"]):
            train, test = holdout_split(data.label, 0.2, seed, stratify=True)
            torch.manual_seed(seed)
            model = EmbeddingNet()
            set_rates(model, {"dropout": rate})
            config = FitConfig(task="classification", epochs=3, batch_size=32, seed=seed, device="cpu")
            fit(model, Subset(data, train.tolist()), config=config)
            with torch.no_grad():
                held_out = torch.utils.data.default_collate([data[i][0] for i in test])
                predicted = model.eval()(held_out).argmax(1).numpy()
            by_hand.append(accuracy_score(data.label[test], predicted))
        summary = next(m for m in study.summary.methods if m.method == method)
        assert summary.test_values == pytest.approx(by_hand, abs=1e-12)


def test_reglabs_own_builders_and_shifts_refuse_inputs_of_several_tensors_in_one_line():
    data = table_of_codes_and_numbers()
    with pytest.raises(ValueError, match="takes one input tensor.*your own model"):
        reglab.compare(data=data, methods=["none"], **QUICK)
    with pytest.raises(ValueError, match="RandomShift moves one signal or image tensor"):
        reglab.compare(data=data, model=EmbeddingNet, methods=["shift=1"], **QUICK)


def test_input_noise_on_several_tensors_perturbs_the_numbers_and_leaves_the_codes():
    """x + σε on the floating-point part, ε the generator's next normal draws; the codes as they were."""
    (codes, numbers), _ = table_of_codes_and_numbers(n=50)
    x = (torch.as_tensor(codes), torch.as_tensor(numbers))
    noisy_codes, noisy_numbers = GaussianNoise(0.3)(x, torch.Generator().manual_seed(5))
    expected = x[1] + 0.3 * torch.randn(x[1].shape, generator=torch.Generator().manual_seed(5), dtype=x[1].dtype)
    assert torch.equal(noisy_codes, x[0]) and torch.allclose(noisy_numbers, expected, atol=1e-15)
    study = reglab.compare(data=table_of_codes_and_numbers(), model=EmbeddingNet, methods=["none", "augment"], **QUICK)
    assert [m.outcome for m in study.summary.methods] == ["completed", "completed"]


@pytest.mark.parametrize(
    "data, test_data, says",
    [
        ((np.zeros((0, 3)), np.zeros(0)), None, "holds no rows"),
        (((np.zeros((30, 2)), np.zeros((20, 3))), np.arange(30) % 2), None, "different numbers of rows"),
        ((np.ones((30, 4)), np.arange(30) % 2), (np.ones((10, 5)), np.arange(10) % 2), "same columns and shapes"),
        (
            ({"codes": np.zeros((30, 2)), "numbers": np.ones((30, 3))}, np.arange(30) % 2),
            ({"codes": np.zeros((10, 2)), "amounts": np.ones((10, 3))}, np.arange(10) % 2),
            "same columns and shapes",
        ),
        ("no/such/table.csv", None, "not found"),
        (Items("dict", odd_item=7), None, "item 7"),
    ],
)
def test_bad_data_is_a_one_line_error_before_anything_is_stored(tmp_path, data, test_data, says):
    store = tmp_path / "s.sqlite"
    with pytest.raises(ValueError, match=says) as raised:
        reglab.compare(data=data, test_data=test_data, model=EmbeddingNet, methods=["none"], store=store, **QUICK)
    assert "\n" not in str(raised.value)
    assert not store.exists()


FAILING = {"on": True}


def fails_while_switched_on(output, y):
    """Cross-entropy that raises on training minibatches while ``FAILING["on"]`` (not on the two-row probe)."""
    if FAILING["on"] and len(y) > 2:
        raise RuntimeError("a bug in my loss")
    return nn.functional.cross_entropy(output, y)


def test_resuming_runs_the_failed_trials_again_and_says_how_many(tmp_path):
    (_, numbers), y = table_of_codes_and_numbers()
    options = dict(data=(numbers, y), methods=["none", "l2=1e-3"], store=tmp_path / "s.sqlite", name="s", **QUICK)
    FAILING["on"] = True
    try:
        first = reglab.compare(loss=fails_while_switched_on, **options)
    finally:
        FAILING["on"] = False
    assert all(m.outcome.startswith("failed") for m in first.summary.methods)
    again = reglab.compare(loss=fails_while_switched_on, resume=True, **options)
    assert again.notes == ["4 failed trials of s run again"]
    assert [m.outcome for m in again.summary.methods] == ["completed", "completed"]
    statuses = {t.status for t in again.store.trials(again.store.study("s").id)}
    assert statuses == {"completed"}


def test_two_different_lambdas_as_loss_do_not_resume_as_one(tmp_path):
    """A lambda is stored with a hash of its code: the same lambda resumes, a different one is refused."""
    (_, numbers), y = table_of_codes_and_numbers()
    options = dict(data=(numbers, y), methods=["none"], store=tmp_path / "s.sqlite", name="s", **QUICK)

    def smoothed(eps):
        return lambda output, target: nn.functional.cross_entropy(output, target, label_smoothing=eps)

    reglab.compare(loss=smoothed(0.1), **options)
    assert reglab.compare(loss=smoothed(0.1), resume=True, **options).winner == "none"
    with pytest.raises(ValueError, match="loss"):
        reglab.compare(loss=smoothed(0.2), resume=True, **options)
    with pytest.raises(ValueError, match="loss"):
        reglab.compare(loss=lambda output, target: nn.functional.cross_entropy(output, target), resume=True, **options)


def test_mc_predict_takes_inputs_of_several_tensors():
    """Each pass is the model on the whole input: the passes' mean equals a loop of forward passes drawn from
    the same seeded generator."""
    (codes, numbers), _ = table_of_codes_and_numbers(n=20)
    x = {"codes": torch.as_tensor(codes), "numbers": torch.as_tensor(numbers).float()}
    torch.manual_seed(0)
    model = EmbeddingNet()
    set_rates(model, {"dropout": 0.5})
    prediction = reglab.mc_predict(model, x, passes=5, generator_seed=3)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        passes = torch.stack([model.train()(x).softmax(-1) for _ in range(5)])
    assert torch.allclose(prediction.mean, passes.mean(0), atol=1e-6)
    assert prediction.std.max() > 0
