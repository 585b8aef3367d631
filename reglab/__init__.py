"""reglab: apply, tune and compare regularization for neural networks and linear models, on PyTorch."""

from reglab.data import Dataset, load
from reglab.methods import Regularization
from reglab.models import ModelSpec, cnn, linear_model, mlp
from reglab.regularizers.constraints import MaxNorm
from reglab.regularizers.dropout import DropConnectLinear, Dropout, GaussianDropout, SpatialDropout
from reglab.regularizers.early_stopping import EarlyStopping
from reglab.regularizers.mc_dropout import MCPrediction, mc_predict
from reglab.regularizers.penalties import L1, L2, ElasticNet, GroupLasso
from reglab.regularizers.schedules import Warmup
from reglab.regularizers.terms import Term, summarize
from reglab.training import FitConfig, FitResult, Regularizers, fit
from reglab.trial import TrialConfig, TrialResult, run_trial

__version__ = "0.1.0"

__all__ = [
    "Dataset", "load", "Regularization", "ModelSpec", "cnn", "linear_model", "mlp", "MaxNorm",
    "DropConnectLinear", "Dropout", "GaussianDropout", "SpatialDropout", "EarlyStopping", "MCPrediction",
    "mc_predict", "L1", "L2", "ElasticNet", "GroupLasso", "Warmup", "Term", "summarize", "FitConfig",
    "FitResult", "Regularizers", "fit", "TrialConfig", "TrialResult", "run_trial",
]
