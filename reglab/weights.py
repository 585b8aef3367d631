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
    """Fraction of exact zeros, L2 norm and all-zero units over the model's weights (not biases/norms):
    ``member_weight_stats`` of the one model."""
    weights = [unit_rows(p).T[None] for _, p in select_parameters(model)]
    if not weights:
        return {"zeros": 0.0, "weight_norm": 0.0, "units_pruned": 0}
    stats = member_weight_stats(weights)
    return {
        "zeros": float(stats["zeros"]),
        "weight_norm": float(stats["weight_norm"]),
        "units_pruned": int(stats["units_pruned"]),
    }


@torch.no_grad()
def member_weight_stats(weights: list[torch.Tensor]) -> dict[str, torch.Tensor]:
    """Per member (K,) of weights (K, in, out), a unit's incoming weights along dim 1: the fraction of exact
    zeros, the L2 norm (in float64) and the units whose incoming weights are all zero."""
    count = sum(w[0].numel() for w in weights)
    zeros = sum((w == 0).sum(dim=(1, 2)) for w in weights)
    norm = torch.sqrt(sum(torch.linalg.vector_norm(w, dim=(1, 2), dtype=torch.float64).square() for w in weights))
    pruned = sum((w == 0).all(dim=1).sum(dim=1) for w in weights)
    return {"zeros": zeros.double() / count, "weight_norm": norm, "units_pruned": pruned}


HISTOGRAM_EDGES = np.linspace(-1.0, 1.0, 51)


@torch.no_grad()
def weight_histogram(weights: list[torch.Tensor]) -> dict:
    """Counts of the final weights (not biases/norms) over fixed bins on [−1, 1], values beyond clipped
    into the end bins, and the count of exact zeros (what L1's proximal steps produce)."""
    values = torch.cat([w.detach().cpu().double().flatten() for w in weights]).numpy() if weights else np.zeros(0)
    counts, _ = np.histogram(np.clip(values, -1.0, 1.0), bins=HISTOGRAM_EDGES)
    return {"edges": HISTOGRAM_EDGES.tolist(), "counts": counts.tolist(), "exact_zeros": int((values == 0).sum())}
