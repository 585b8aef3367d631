"""reglab: apply, tune and compare regularization for neural networks and linear models, on PyTorch.

The public names below are imported on first use (PEP 562), so that ``import reglab`` and the commands
that train nothing (``reglab runs``, ``reglab --help``) do not pay for importing PyTorch.
"""

from __future__ import annotations

from importlib import import_module

__version__ = "0.1.0"

_MODULES = {  # public name -> the module that defines it
    "Dataset": "reglab.data",
    "load": "reglab.data",
    "Regularization": "reglab.methods",
    "register_constraint": "reglab.methods",
    "register_penalty": "reglab.methods",
    "ModelSpec": "reglab.models",
    "cnn": "reglab.models",
    "linear_model": "reglab.models",
    "mlp": "reglab.models",
    "MaxNorm": "reglab.regularizers.constraints",
    "DropConnectLinear": "reglab.regularizers.dropout",
    "Dropout": "reglab.regularizers.dropout",
    "GaussianDropout": "reglab.regularizers.dropout",
    "SpatialDropout": "reglab.regularizers.dropout",
    "DropPath": "reglab.regularizers.dropout",
    "EarlyStopping": "reglab.regularizers.early_stopping",
    "Mixing": "reglab.regularizers.soft_targets",
    "SharpnessAware": "reglab.regularizers.sharpness",
    "WeightAverage": "reglab.regularizers.averaging",
    "MCPrediction": "reglab.regularizers.mc_dropout",
    "mc_predict": "reglab.regularizers.mc_dropout",
    "L1": "reglab.regularizers.penalties",
    "L2": "reglab.regularizers.penalties",
    "ElasticNet": "reglab.regularizers.penalties",
    "GroupLasso": "reglab.regularizers.penalties",
    "Warmup": "reglab.regularizers.schedules",
    "Term": "reglab.regularizers.terms",
    "summarize": "reglab.regularizers.terms",
    "FitConfig": "reglab.training",
    "FitResult": "reglab.training",
    "Regularizers": "reglab.training",
    "fit": "reglab.training",
    "compare": "reglab.api",
    "tune": "reglab.api",
    "Study": "reglab.api",
    "DropConnect": "reglab.regularizers.dropout",
    "as_dataset": "reglab.data",
    "cache": "reglab.data.cache",
    "TrialConfig": "reglab.trial",
    "TrialResult": "reglab.trial",
    "run_trial": "reglab.trial",
    "Calibration": "reglab.calibration",
    "Reliability": "reglab.calibration",
    "score_calibration": "reglab.calibration",
}

__all__ = list(_MODULES)


def __getattr__(name: str):
    if name not in _MODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(_MODULES[name]), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
