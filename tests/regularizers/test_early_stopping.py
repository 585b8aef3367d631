"""Early stopping as a state machine fed by hand (the loop's use of it is in tests/test_training.py)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from reglab.regularizers.early_stopping import EarlyStopping


def feed(stopper: EarlyStopping, losses, model=None) -> int:
    """The epoch at which ``update`` first says stop, or -1."""
    model = model or nn.Linear(1, 1)
    for epoch, loss in enumerate(losses):
        if stopper.update(epoch, loss, model):
            return epoch
    return -1


def test_stops_patience_epochs_after_the_best():
    stopper = EarlyStopping(patience=3)
    assert feed(stopper, [5.0, 4.0, 3.0, 3.5, 3.2, 3.1, 2.0]) == 5
    assert stopper.best_epoch == 2 and stopper.best_loss == 3.0


def test_min_delta_requires_a_real_improvement():
    """3.0 → 2.95 is not an improvement with min_delta 0.1."""
    stopper = EarlyStopping(patience=2, min_delta=0.1)
    assert feed(stopper, [3.0, 2.95, 2.92, 1.0]) == 2
    assert stopper.best_epoch == 0


def test_restore_loads_the_best_weights():
    model = nn.Linear(2, 1)
    stopper = EarlyStopping(patience=1)
    with torch.no_grad():
        model.weight.fill_(1.0)
    stopper.update(0, 1.0, model)
    with torch.no_grad():
        model.weight.fill_(7.0)
    assert stopper.update(1, 2.0, model)
    stopper.restore(model)
    assert torch.equal(model.weight, torch.ones(1, 2))


def test_no_restore_when_asked_not_to():
    model = nn.Linear(2, 1)
    stopper = EarlyStopping(patience=1, restore_best=False)
    stopper.update(0, 1.0, model)
    with torch.no_grad():
        model.weight.fill_(7.0)
    stopper.restore(model)
    assert torch.equal(model.weight, torch.full((1, 2), 7.0))


@pytest.mark.parametrize("kwargs, name", [({"patience": 0}, "patience"), ({"min_delta": -1.0}, "min_delta")])
def test_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        EarlyStopping(**kwargs)
