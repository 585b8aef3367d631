"""Flags shared by the commands that train, and how they become ``StudySettings``.

Flags default to "not given" so that a study file's values (``--study FILE``) hold unless a flag
overrides them; what neither gives takes ``StudySettings``' default. Without ``--data`` or ``--study`` the
base is the built-in demo, ``DEFAULT_STUDY``. The help names the defaults as those values hold them.
"""

from __future__ import annotations

import argparse
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING

from reglab.cli.execution import add_execution_arguments
from reglab.store import Store

if TYPE_CHECKING:
    from reglab.study.settings import StudySettings

S = argparse.SUPPRESS


def default(name: str) -> str:
    """``StudySettings``' default of a field, as the help shows it."""
    from reglab.models import ModelSpec
    from reglab.study.settings import StudySettings

    if name in ("kind", "hidden", "activation"):
        value = getattr(ModelSpec, name)
        return ",".join(map(str, value)) if name == "hidden" else value
    value = StudySettings.__dataclass_fields__[name].default
    return ",".join(value) if isinstance(value, tuple) else str(value)


def demo(name: str) -> str:
    """What the demo study sets, as the help shows it (argparse formats help with %: a percent sign doubled)."""
    from reglab.study.settings import DEFAULT_STUDY

    value = DEFAULT_STUDY[name]
    if name == "model":
        return ",".join(map(str, value["hidden"]))
    return f"{value:.0%}%" if name == "test_size" else str(value)


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("data")
    group.add_argument(
        "--data",
        default=S,
        help="built-in dataset name, a .csv/.parquet file, an IDX folder, or FILE.py:NAME / "
        "module:NAME, a function returning (X, y), a DataFrame or a Dataset (default: the demo study: "
        f"{demo('data')} with {demo('test_size')} held out, an MLP of {demo('model')} units, {demo('epochs')} epochs)",
    )
    group.add_argument("--target", default=S, help="target column of a table")
    group.add_argument(
        "--impute",
        action="store_true",
        default=S,
        help="impute missing values (training-row median; a missing category as none) instead of failing",
    )
    group.add_argument(
        "--test-data", default=S, help="a separate test set, in any form --data takes: kept as the test set"
    )
    group.add_argument(
        "--test-split",
        default=S,
        choices=["given", "random"],
        help="the data's own test set when they have one (MNIST-1D, IDX t10k files, --test-data), "
        f"or a random hold-out per seed (default: {default('test_split')})",
    )
    group.add_argument(
        "--test-size",
        type=float,
        default=S,
        help=f"held-out test fraction of a random split, stratified for classes (default: {default('test_size')})",
    )


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    from reglab.training import HISTORIES, OPTIMIZERS

    group = parser.add_argument_group("model and training")
    group.add_argument(
        "--model",
        default=S,
        help="linear, mlp, cnn, or your own: FILE.py:NAME or module:NAME, a function "
        f"returning a fresh torch.nn.Module (default: {default('kind')})",
    )
    group.add_argument("--hidden", default=S, help=f"hidden sizes, comma-separated (default: {default('hidden')})")
    group.add_argument("--activation", default=S, help=f"relu, tanh or gelu (default: {default('activation')})")
    group.add_argument("--optimizer", default=S, choices=list(OPTIMIZERS), help=f"(default: {default('optimizer')})")
    group.add_argument("--lr", type=float, default=S, help=f"learning rate (default: {default('lr')})")
    group.add_argument("--epochs", type=int, default=S, help=f"epochs per trial (default: {default('epochs')})")
    group.add_argument("--batch-size", type=int, default=S, help=f"minibatch size (default: {default('batch_size')})")
    group.add_argument(
        "--history",
        default=S,
        choices=list(HISTORIES),
        help="each epoch's training loss and metric: the running mean over its minibatches, or exact: the "
        f"training rows scored after every epoch, slower (default: {default('history')})",
    )
    group.add_argument(
        "--params",
        default=S,
        metavar="PATTERNS",
        help="comma-separated parameter-name patterns that penalties, decay and max-norm touch, "
        "e.g. '*.weight' (default: every weight, not biases or normalization parameters)",
    )
    group.add_argument(
        "--penalty-mode",
        default=S,
        choices=["proximal", "loss"],
        help="L1/elastic net/group lasso as proximal steps (exact zeros, default) or loss terms",
    )
    group.add_argument("--device", default=S, help=f"auto, cpu or cuda (default: {default('device')})")


def add_selection_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("selection")
    group.add_argument(
        "--folds", type=int, default=S, help=f"k of k-fold cross-validation (default: {default('folds')})"
    )
    group.add_argument(
        "--seeds", type=int, default=S, help=f"replicates, each with its own split (default: {default('seeds')})"
    )
    group.add_argument(
        "--grid-size",
        type=int,
        default=S,
        help="values per tuned method, spread over its default grid; at most the whole grid "
        f"(default: {default('grid_size')})",
    )
    group.add_argument(
        "--grid",
        action="append",
        default=S,
        metavar="NAME=V1,V2,...",
        help="explicit grid of a method, e.g. l2=1e-4,1e-3,1e-2 (repeatable)",
    )
    group.add_argument(
        "--rule",
        default=S,
        choices=["1se", "min"],
        help=f"1se: the strongest within one standard error of the best; min: the best (default: {default('rule')})",
    )


def add_study_file_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--study", metavar="FILE", help="a TOML study file with the same settings as the flags")


def add_study_arguments(parser: argparse.ArgumentParser) -> None:
    """Everything a study command (compare, tune) takes besides its methods."""
    add_data_arguments(parser)
    add_model_arguments(parser)
    add_selection_arguments(parser)
    add_store_arguments(parser)
    add_study_file_argument(parser)
    add_execution_arguments(parser)
    parser.add_argument("--no-report", action="store_true", help="do not write the HTML report beside the store")
    parser.add_argument("--json", action="store_true", help="machine-readable result on stdout")


def settings_from_args(args: argparse.Namespace, **forced) -> StudySettings:
    """Defaults, overlaid by the study file (or, without one and without ``--data``, the demo study), overlaid by
    the flags given, overlaid by ``forced``."""
    from reglab.importer import is_import_string
    from reglab.models import ModelSpec
    from reglab.study.settings import DEFAULT_STUDY, StudySettings, resolve_model

    given = vars(args)
    if getattr(args, "study", None):
        values: dict = StudySettings.from_toml(args.study)
    else:
        values = {} if "data" in given else dict(DEFAULT_STUDY)
    known = {f.name for f in fields(StudySettings)}
    values.update({k: v for k, v in given.items() if k in known and k not in ("methods", "grids", "model", "params")})
    if "params" in given:
        values["params"] = tuple(p.strip() for p in given["params"].split(",") if p.strip())
    if "methods" in given:
        values["methods"] = tuple(m.strip() for m in given["methods"].split(",") if m.strip())
    if "grid" in given:
        values["grids"] = {**values.get("grids", {}), **dict(_grid(text) for text in given["grid"])}
    model = given.get("model", values.get("model")) or ModelSpec().to_dict()
    if isinstance(model, str) and is_import_string(model):
        if "hidden" in given or "activation" in given:
            raise ValueError(
                f"--hidden and --activation shape reglab's builders, not your model {model}: set them in it"
            )
        values["model"] = resolve_model(model)
    else:
        if isinstance(model, str):
            model = {**(values.get("model") if isinstance(values.get("model"), dict) else {}), "kind": model}
        if not isinstance(model, dict):
            raise ValueError(
                'Invalid value for argument model: expected a table such as {kind = "mlp", hidden = [128]}. '
                f"Received: model={model!r}"
            )
        model = dict(model)
        if "hidden" in given:
            model["hidden"] = _integers("--hidden", given["hidden"])
        if "activation" in given:
            model["activation"] = given["activation"]
        values["model"] = ModelSpec.from_dict(model)
    values.update(forced)
    return StudySettings.from_dict(values)


def _integers(flag: str, text: str) -> tuple[int, ...]:
    try:
        return tuple(int(h) for h in text.split(",") if h.strip())
    except ValueError:
        raise ValueError(f"{flag} takes comma-separated integers such as 128,64, got {text!r}") from None


def _grid(text: str) -> tuple[str, tuple[float, ...]]:
    from reglab.methods import METHODS

    name, _, values = text.partition("=")
    if name not in METHODS or not values:
        raise ValueError(f"--grid takes NAME=V1,V2,... with NAME one of {', '.join(METHODS)}, got {text!r}")
    try:
        return name, tuple(float(v) for v in values.split(","))
    except ValueError:
        raise ValueError(f"--grid values must be numbers, got {text!r}") from None


def add_store_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("store")
    group.add_argument(
        "--store", default="reglab.sqlite", help="SQLite file that keeps every trial (default: reglab.sqlite)"
    )
    group.add_argument("--name", help="study name (default: a new name from the command and data)")
    group.add_argument(
        "--resume",
        action="store_true",
        help="finish the named study (or the latest with the same settings), skipping finished trials",
    )


def require_store(path: str) -> None:
    """Commands that only read a store fail on a missing file instead of creating an empty one."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"no store {path}: pass --store FILE of an existing store (reglab compare writes one)")


def study_name(store: Store, args: argparse.Namespace, settings: StudySettings, command: str) -> str:
    """The name given; with --resume alone, the latest study with these settings; else a fresh name."""
    from reglab.study.runner import study_name as library_study_name

    return library_study_name(store, settings, command, name=args.name, resume=args.resume)
