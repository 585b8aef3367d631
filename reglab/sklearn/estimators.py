"""scikit-learn estimators trained by reglab's one loop: ``RegularizedNetClassifier``, ``RegularizedNetRegressor``.

Both minimize ``mean data loss + R(w)`` (cross-entropy, or mean squared error on the standardized target)
over an MLP (``hidden_layer_sizes``; ``()`` is a linear or logistic model) or your own module
(``module=``, a function returning a fresh ``nn.Module``). A fit is the trial the study engine runs on the
same rows with the same seed (``random_state``): features standardized on the training rows (and, for
regression, the target), a stratified fifth held back to monitor under early stopping, the same
initialization, minibatch order, dropout masks, penalties and proximal steps.

The regularization is a reglab spec (``"l2=1e-3+dropout=0.3"``) together with one parameter per strength
(``l1``, ``l2``, ``dropout``, ...), which ``GridSearchCV`` can search. A parameter left at None takes the
spec's value; a parameter that is set fills in a method the spec names bare (``"l2"``) or adds one it
lacks; a method given a value in both places is refused.
"""

from __future__ import annotations

import numbers
import warnings
from dataclasses import replace

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from reglab.custom_model import CustomModel
from reglab.data import Dataset
from reglab.data.sources import as_dataset
from reglab.data.splits import Standardizer
from reglab.engine.jobs import TRIAL_THREADS, intra_op_threads
from reglab.methods import METHODS, Regularization
from reglab.models import ModelSpec
from reglab.rows import EVAL_BATCH, n_rows
from reglab.training import FitConfig, fit
from reglab.trial import TrialConfig, check_setup, own_random_state, set_up

STRENGTHS = (
    "l1",
    "l2",
    "elasticnet",
    "l1_ratio",
    "grouplasso",
    "decay",
    "dropout",
    "gaussian_dropout",
    "dropconnect",
    "spatial_dropout",
    "maxnorm",
    "early_stopping",
    "noise",
    "label_smoothing",
    "mixup",
    "cutmix",
    "drop_path",
    "sam",
    "sam_adaptive",
    "ema",
    "swa",
)
METHOD_OF = {method.field: method.name for method in METHODS.values()}  # parameter -> method name in a spec
SEED_LIMIT = 2**32


class RegularizedNet(BaseEstimator):
    """What the classifier and the regressor share: parameters, the trial config, training and outputs."""

    task: str  # set by each subclass

    def __init__(
        self,
        hidden_layer_sizes=ModelSpec.hidden,
        activation=ModelSpec.activation,
        regularization="none",
        *,
        l1=None,
        l2=None,
        elasticnet=None,
        l1_ratio=None,
        grouplasso=None,
        decay=None,
        dropout=None,
        gaussian_dropout=None,
        dropconnect=None,
        spatial_dropout=None,
        maxnorm=None,
        early_stopping=None,
        noise=None,
        label_smoothing=None,
        mixup=None,
        cutmix=None,
        drop_path=None,
        sam=None,
        sam_adaptive=None,
        ema=None,
        swa=None,
        optimizer=FitConfig.optimizer,
        learning_rate=FitConfig.lr,
        momentum=FitConfig.momentum,
        batch_size=FitConfig.batch_size,
        epochs=FitConfig.epochs,
        history=FitConfig.history,
        random_state=None,
        device=FitConfig.device,
        module=None,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.regularization = regularization
        self.l1 = l1
        self.l2 = l2
        self.elasticnet = elasticnet
        self.l1_ratio = l1_ratio
        self.grouplasso = grouplasso
        self.decay = decay
        self.dropout = dropout
        self.gaussian_dropout = gaussian_dropout
        self.dropconnect = dropconnect
        self.spatial_dropout = spatial_dropout
        self.maxnorm = maxnorm
        self.early_stopping = early_stopping
        self.noise = noise
        self.label_smoothing = label_smoothing
        self.mixup = mixup
        self.cutmix = cutmix
        self.drop_path = drop_path
        self.sam = sam
        self.sam_adaptive = sam_adaptive
        self.ema = ema
        self.swa = swa
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.batch_size = batch_size
        self.epochs = epochs
        self.history = history
        self.random_state = random_state
        self.device = device
        self.module = module

    # -- the trial this estimator's fit runs --------------------------------------------------------------

    def regularization_config(self) -> Regularization:
        """The spec with the strength parameters applied (a method set in both places is refused)."""
        spec = self.regularization
        if not isinstance(spec, str):
            raise TypeError(
                f"regularization must be a spec string such as 'l2=1e-3+dropout=0.3', not {type(spec).__name__}"
            )
        reg = Regularization.parse(spec)
        valued = {token.partition("=")[0].strip() for token in spec.split("+") if "=" in token}
        for name in STRENGTHS:
            value = getattr(self, name)
            if value is None:
                continue
            method = METHOD_OF[name]
            if method in valued:
                raise ValueError(
                    f"{method} is set twice, in regularization={spec!r} and as {name}={value!r}: "
                    f"set it in one place (a bare {method} in the spec takes the parameter)"
                )
            reg = reg.with_value(method, value)
        if self.l1_ratio is not None and not reg.elasticnet:
            raise ValueError(f"l1_ratio={self.l1_ratio!r} is the elastic net's ρ: set elasticnet too")
        return replace(reg, tuned=())

    def trial_config(self) -> TrialConfig:
        """The ``TrialConfig`` of a fit; with ``random_state`` None or a RandomState, a fresh seed is drawn."""
        return TrialConfig(self.regularization_config(), self._model(), self._fit_config())

    def _model(self) -> ModelSpec | CustomModel:
        if self.module is not None:
            return CustomModel.of(self.module)
        sizes = self.hidden_layer_sizes
        hidden = (sizes,) if isinstance(sizes, numbers.Integral) else tuple(sizes)
        return ModelSpec(kind="mlp" if hidden else "linear", hidden=hidden, activation=self.activation)

    def _fit_config(self) -> FitConfig:
        return FitConfig(
            task=self.task,
            optimizer=self.optimizer,
            lr=self.learning_rate,
            momentum=self.momentum,
            epochs=self.epochs,
            batch_size=self.batch_size,
            history=self.history,
            seed=self._seed(),
            device=self.device,
        )

    def _seed(self) -> int:
        state = self.random_state
        if state is None or isinstance(state, np.random.RandomState):
            return int(check_random_state(state).randint(SEED_LIMIT, dtype=np.int64))
        if isinstance(state, bool) or not isinstance(state, numbers.Integral) or not 0 <= state < SEED_LIMIT:
            raise ValueError(
                f"Invalid value for argument random_state: expected None, a RandomState or an integer "
                f"in [0, 2**32). Received: random_state={state!r}"
            )
        return int(state)

    # -- fitting ------------------------------------------------------------------------------------------

    def _dataset(self, X, y) -> Dataset:
        """(X, y) validated as scikit-learn does and held as reglab's ``Dataset`` (classes become 0..k-1)."""
        X, y = validate_data(self, X, y, y_numeric=self.task == "regression")
        return as_dataset((X, self._encode(y)), task=self.task)

    def _encode(self, y: np.ndarray) -> np.ndarray:
        return y

    def fit(self, X, y):
        """Train on (X, y) as the study engine trains a trial on these rows; returns self."""
        self._train(self._dataset(X, y))
        return self

    def _train(self, dataset: Dataset) -> None:
        """``run_trial``'s training: rows, preprocessing fitted on them, the seeded model, the one loop, on
        the engine's intra-op thread count (so the floats are those of the engine's run)."""
        config = self.trial_config()
        check_setup(dataset, config)  # a module that does not fit the data or the task: one line, before training
        rows = np.arange(dataset.n_samples)
        setup = set_up(dataset, rows, rows[:0], config)
        monitored = n_rows(setup.monitor) > 0
        with intra_op_threads(TRIAL_THREADS), own_random_state():
            result = fit(
                setup.model,
                setup.train,
                setup.monitor if monitored else None,
                config=setup.fit,
                regularizers=setup.regularizers,
            )
        if result.outcome == "diverged":
            warnings.warn(
                f"training diverged (a NaN or infinite loss) in epoch {len(result.history)}: "
                "lower learning_rate or the strengths",
                RuntimeWarning,
                stacklevel=3,
            )
        # ``prepare`` fitted the same transforms on the same rows; kept here for new samples
        self._standardizer = Standardizer.fit(dataset.X[setup.rows])
        self._target = setup.fit.target_scale  # (mean, sd) of a regression target's training rows
        self.module_ = setup.model.eval()
        self.history_ = result.history
        self.n_iter_ = len(result.history)

    @torch.no_grad()
    def _outputs(self, X) -> np.ndarray:
        """The module's outputs (float64) on standardized X, in evaluation mode."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        parameter = next(self.module_.parameters())
        inputs = torch.as_tensor(self._standardizer.transform(X)).to(parameter.device, parameter.dtype)
        self.module_.eval()
        outputs = [self.module_(inputs[i : i + EVAL_BATCH]) for i in range(0, len(inputs), EVAL_BATCH)]
        return torch.cat(outputs).double().cpu().numpy()

    # -- pickling: the module travels as its state dict ---------------------------------------------------

    def __getstate__(self) -> dict:
        state = dict(super().__getstate__())  # a copy: the base may hand back __dict__ itself
        if "module_" in state:
            state["module_"] = {k: v.detach().cpu() for k, v in self.module_.state_dict().items()}
        return state

    def __setstate__(self, state: dict) -> None:
        weights = state.pop("module_", None)
        super().__setstate__(state)
        if weights is not None:
            n_outputs = len(self.classes_) if self.task == "classification" else 1
            with torch.random.fork_rng(devices=[]):  # no seed drawn: the weights come from the state dict
                options = self.regularization_config().model_options()
                module = self._model().build((self.n_features_in_,), n_outputs, **options)
            module.load_state_dict(weights)
            self.module_ = module.eval()


class RegularizedNetClassifier(ClassifierMixin, RegularizedNet):
    """A classifier minimizing mean cross-entropy + R(w), R given by ``regularization`` and the strengths.

    Fitted attributes: ``classes_``, ``n_features_in_``, ``feature_names_in_`` (for a DataFrame),
    ``module_`` (the trained ``nn.Module``, on standardized inputs), ``history_`` (one record per epoch:
    train_loss and train_metric, the running mean over the epoch's minibatches, or with ``history="exact"``
    the training rows scored; penalty, zeros, weight_norm, ...), ``n_iter_`` (epochs run).
    """

    task = "classification"

    def _encode(self, y: np.ndarray) -> np.ndarray:
        check_classification_targets(y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"a classifier needs at least two classes; y has 1 class ({self.classes_[0]!r})")
        return codes

    def decision_function(self, X) -> np.ndarray:
        """Logits (n, k); for two classes the log-odds of the second, logit₁ − logit₀ (n,)."""
        logits = self._outputs(X)
        return logits[:, 1] - logits[:, 0] if logits.shape[1] == 2 else logits

    def predict_proba(self, X) -> np.ndarray:
        """softmax(logits) per row."""
        return torch.softmax(torch.as_tensor(self._outputs(X)), dim=1).numpy()

    def predict_log_proba(self, X) -> np.ndarray:
        return torch.log_softmax(torch.as_tensor(self._outputs(X)), dim=1).numpy()

    def predict(self, X) -> np.ndarray:
        """The class of the largest logit."""
        index = self._outputs(X).argmax(axis=1)
        return self.classes_[index]


class RegularizedNetRegressor(RegressorMixin, RegularizedNet):
    """A regressor minimizing mean squared error + R(w) on the target standardized with the training rows'
    mean and standard deviation (predictions are mapped back). Fitted attributes as the classifier's,
    without ``classes_``."""

    task = "regression"

    def predict(self, X) -> np.ndarray:
        outputs = self._outputs(X).reshape(-1)
        mean, std = self._target
        return outputs * std + mean
