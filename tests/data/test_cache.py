"""reglab.cache: a Dataset of fixed items read once into tensors trains as it does uncached."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import Dataset

import reglab
from reglab.data import DataError
from reglab.data import cache as cache_module
from reglab.rows import minibatches
from tests.test_own_data import EmbeddingNet, Items

QUICK = dict(seeds=2, folds=2, epochs=3, batch_size=32, device="cpu")


class Indices(Dataset):
    """Item i is (i, i): a minibatch shows the order it was drawn in."""

    def __len__(self) -> int:
        return 50

    def __getitem__(self, i: int):
        return torch.tensor([float(i)]), i


def test_a_datasets_minibatches_come_in_torch_randperm_order_epoch_after_epoch():
    generator, reference = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    for _ in range(3):
        drawn = [
            yb for _, yb in minibatches(Indices(), 16, generator, "classification", torch.device("cpu"), torch.float32)
        ]
        assert torch.cat(drawn).tolist() == torch.randperm(50, generator=reference).tolist()


@pytest.mark.parametrize("kind", ["dict", "tuple"])
def test_a_cached_dataset_gives_the_uncached_studys_scores(kind):
    cached = reglab.cache(Items(kind))
    assert isinstance(cached.inputs, dict if kind == "dict" else list) and len(cached) == len(Items(kind))
    studies = [
        reglab.compare(data=data, model=EmbeddingNet, methods=["none", "dropout=0.3"], **QUICK)
        for data in (Items(kind), cached)
    ]
    for plain, fast in zip(*(study.summary.methods for study in studies)):
        assert fast.test_values == pytest.approx(plain.test_values, abs=1e-12)
        assert fast.train_metric.mean == pytest.approx(plain.train_metric.mean, abs=1e-12)
    uncached, stacked = (study.ran() for study in studies)
    assert all("reglab.cache" in how for counts in uncached.values() for how in counts)
    assert all(how.startswith("stacked with") for counts in stacked.values() for how in counts)


def test_a_cached_training_and_test_set_stay_cached_together():
    study = reglab.compare(
        data=reglab.cache(Items()), test_data=reglab.cache(Items()), model=EmbeddingNet, methods=["none"], **QUICK
    )
    assert "train 240 · test 240 (given)" in study.title


def test_a_dataset_too_large_for_memory_is_refused_in_one_line(monkeypatch):
    monkeypatch.setattr(cache_module, "MEMORY_FRACTION", 1e-12)
    with pytest.raises(DataError, match="more than half the available.*pass it uncached"):
        reglab.cache(Items())


def test_fit_on_a_cached_dataset_trains_on_its_tensors_as_on_the_dataset():
    def trained(data):
        torch.manual_seed(0)
        model = EmbeddingNet()
        result = reglab.fit(model, data, config=reglab.FitConfig(epochs=2, batch_size=32, device="cpu"))
        return [epoch["train_loss"] for epoch in result.history], model.body[0].weight.detach()

    (plain_losses, plain_weight), (cached_losses, cached_weight) = trained(Items()), trained(reglab.cache(Items()))
    assert cached_losses == pytest.approx(plain_losses, abs=1e-12)
    assert torch.allclose(cached_weight, plain_weight, atol=1e-12)
