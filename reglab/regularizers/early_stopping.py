"""Early stopping: a small state machine over a monitored loss (lower is better)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from torch import nn

from reglab.validation import check_count, check_nonnegative


@dataclass
class EarlyStopping:
    """Stop when the loss has not improved by more than ``min_delta`` for ``patience`` epochs.

    An epoch improves when ``loss < best − min_delta``. With ``restore_best`` the model gets back the
    weights (and buffers) of its best epoch when training ends.
    """

    patience: int = 10
    min_delta: float = 0.0
    restore_best: bool = True
    best_loss: float = field(default=float("inf"), init=False)
    best_epoch: int = field(default=-1, init=False)
    _best_state: dict | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        check_count("patience", self.patience)
        self.min_delta = check_nonnegative("min_delta", self.min_delta)

    def reset(self) -> None:
        """Forget the best loss, epoch and weights: every fit starts afresh (as Keras' ``on_train_begin``)."""
        self.best_loss, self.best_epoch, self._best_state = float("inf"), -1, None

    def update(self, epoch: int, loss: float, model: nn.Module) -> bool:
        """Record one epoch's loss; True when training should stop."""
        if loss < self.best_loss - self.min_delta:
            self.best_loss, self.best_epoch = loss, epoch
            if self.restore_best:
                self._best_state = copy.deepcopy(model.state_dict())
        return epoch - self.best_epoch >= self.patience

    def restore(self, model: nn.Module) -> None:
        """Load the best epoch's weights, when there is one and ``restore_best`` is set."""
        if self.restore_best and self._best_state is not None:
            model.load_state_dict(self._best_state)
