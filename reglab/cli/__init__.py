"""The ``reglab`` command: one module per subcommand, each with ``add_arguments`` and ``run``.

Bad input raises ``ValueError`` (``DataError`` included) or ``FileNotFoundError`` somewhere below; it is
reported here as one line on stderr with exit status 2. ``--debug`` shows the traceback instead. The library
speaks of its arguments (``resume=True``, ``store=PATH``); :func:`in_flags` puts the command's flags in their place.

Starting fast: ``reglab --help`` and the commands that train nothing must not import PyTorch. A command
module imports at its top only what is cheap (the standard library, rich, numpy, the store); the rest of reglab
(PyTorch, scikit-learn, pandas, matplotlib behind it) is imported inside the function that uses it, and a
command's arguments are added only when that command is parsed (some choices come from such modules).
"""

from __future__ import annotations

import argparse
import gc
import re
import sys
from types import ModuleType

import reglab
from reglab.cli import compare, datasets, path, report, runs, show, train, tune

COMMANDS = {
    "compare": compare,
    "tune": tune,
    "path": path,
    "train": train,
    "datasets": datasets,
    "runs": runs,
    "show": show,
    "report": report,
}
TRAINING = ("compare", "tune", "path", "train")  # the commands whose process the console script prepares
ARGUMENT_FLAGS = {"store_path": "--store", "out_path": "--out", "png_dir": "--png"}  # where the names differ
# An argument as library messages spell it: name=True, name="value", name=["a", "b"], name=UPPER, or a bare name=.
ARGUMENT = re.compile(r'\b([a-z][a-z0-9_]*)=(True\b|"[^"]*"|\[(?:"[^"]*"(?:, )?)*\]|[A-Z]+\b|(?=[\s,.;:)]|$))')


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own errors: one line, exit 2
        self.exit(2, f"reglab: error: {message} (see {self.prog} --help)\n")


class _Command(_Parser):
    """A command's parser; its module adds the arguments when the command is first parsed or shown."""

    def __init__(self, *args, module: ModuleType, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.module: ModuleType | None = module

    def parse_known_args(self, args=None, namespace=None):
        self._add_arguments()
        return super().parse_known_args(args, namespace)

    def format_help(self) -> str:
        self._add_arguments()
        return super().format_help()

    @property
    def flags(self) -> set[str]:
        self._add_arguments()
        return {flag for action in self._actions for flag in action.option_strings}

    def _add_arguments(self) -> None:
        if self.module is None:
            return
        module, self.module = self.module, None
        self.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks of errors")
        module.add_arguments(self)
        self.set_defaults(run=module.run)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="reglab", description="Apply, tune and compare regularization on PyTorch.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    parser.add_argument("--version", action="version", version=f"reglab {reglab.__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Command)
    parser.commands = {}  # name -> its parser, whose error names the command's own --help
    for name, module in COMMANDS.items():
        parser.commands[name] = sub.add_parser(
            name, help=module.__doc__.strip().splitlines()[0], description=module.__doc__, module=module
        )
    return parser


def main(argv: list[str] | None = None, *, prepare: bool = False) -> int:
    """Runs the command ``argv`` (default: ``sys.argv[1:]``) and returns its exit status. With ``prepare``
    (the console script: a process of its own) a command that trains prepares the process for many
    trainings (``prepare_process``) once its arguments are parsed: their choices have imported PyTorch
    and the engine by then, so the freeze covers them."""
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        parser.commands[args.command].error(f"unrecognized arguments: {' '.join(unknown)}")
    if prepare and args.command in TRAINING:
        from reglab.engine.host import prepare_process

        prepare_process()
    try:
        return args.run(args)
    except (ValueError, FileNotFoundError, KeyError, RuntimeError) as error:
        flags = parser.commands[args.command].flags
        error.args = tuple(in_flags(a, flags) if isinstance(a, str) else a for a in error.args)
        if args.debug:
            raise
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        print(f"reglab: error: {message}", file=sys.stderr)
        return 1 if isinstance(error, RuntimeError) else 2  # e.g. a cluster that dropped trials: --resume goes on
    except KeyboardInterrupt:
        print("reglab: interrupted", file=sys.stderr)
        return 130


def in_flags(message: str, flags: set[str]) -> str:
    """A library message as a shell user reads it: each argument it names that the command has a flag for
    becomes the flag (``resume=True`` → ``--resume``, ``device="cpu"`` → ``--device cpu``, ``store=PATH`` →
    ``--store PATH``, ``methods=["none", "l2"]`` → ``--methods none,l2``, a bare ``name=`` → ``--name``)."""

    def flag(match: re.Match) -> str:
        name, value = match.groups()
        option = ARGUMENT_FLAGS.get(name, "--" + name.replace("_", "-"))
        if option not in flags:
            return match.group(0)
        if value in ("True", ""):
            return option
        words = re.findall(r'"([^"]*)"', value) or [value]  # the quoted words of name="cpu" or name=["a", "b"]
        return f"{option} {','.join(words)}"

    return ARGUMENT.sub(flag, message)


def console_main() -> None:
    """The ``reglab`` console script and ``python -m reglab``: runs ``main`` in the process it owns, then
    freezes what is left out of the interpreter's last collections (with PyTorch imported, ~0.5 s of exit)."""
    status = main(prepare=True)
    gc.freeze()
    raise SystemExit(status)
