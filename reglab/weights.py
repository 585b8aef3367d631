"""What regularization did to a model's weights (not biases or normalization parameters): exact zeros, the
L2 norm, all-zero units, and a histogram."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from reglab.regularizers.penalties import unit_rows
from reglab.regularizers.terms import select_parameters


@torch.no_grad()
def weight_stats(model: nn.Module) -> dict:
    """Fraction of exact zeros, L2 norm and all-zero units over the model's weights (not biases/norms)."""
    weights = [p for _, p in select_parameters(model)]
    if not weights:
        return {"zeros": 0.0, "weight_norm": 0.0, "units_pruned": 0}
    count = sum(p.numel() for p in weights)
    zeros = sum(int((p == 0).sum()) for p in weights)
    norm = float(torch.sqrt(sum((p.double() ** 2).sum() for p in weights)))
    pruned = sum(int((unit_rows(p) == 0).all(dim=1).sum()) for p in weights)
    return {"zeros": zeros / count, "weight_norm": norm, "units_pruned": pruned}


HISTOGRAM_EDGES = np.linspace(-1.0, 1.0, 51)


@torch.no_grad()
def weight_histogram(weights: list[torch.Tensor]) -> dict:
    """Counts of the final weights (not biases/norms) over fixed bins on [−1, 1], values beyond clipped
    into the end bins, and the count of exact zeros (what L1's proximal steps produce)."""
    values = torch.cat([w.detach().cpu().double().flatten() for w in weights]).numpy() if weights else np.zeros(0)
    counts, _ = np.histogram(np.clip(values, -1.0, 1.0), bins=HISTOGRAM_EDGES)
    return {"edges": HISTOGRAM_EDGES.tolist(), "counts": counts.tolist(), "exact_zeros": int((values == 0).sum())}
