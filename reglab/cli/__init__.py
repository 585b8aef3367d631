"""The ``reglab`` command: one module per subcommand, each with ``add_arguments`` and ``run``.

Bad input raises ``ValueError`` (``DataError`` included) or ``FileNotFoundError`` somewhere below; it is
reported here as one line on stderr with exit status 2. ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import sys

from reglab.cli import compare, datasets, path, report, runs, show, train, tune
from reglab.engine.host import prepare_process

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


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own errors: one line, exit 2
        self.exit(2, f"reglab: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="reglab", description="Apply, tune and compare regularization on PyTorch.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    parser.commands = {}  # name -> its parser, whose error names the command's own --help
    for name, module in COMMANDS.items():
        command = parser.commands[name] = sub.add_parser(name, help=module.__doc__.strip().splitlines()[0], description=module.__doc__)
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks of errors")
        module.add_arguments(command)
        command.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        parser.commands[args.command].error(f"unrecognized arguments: {' '.join(unknown)}")
    try:
        return args.run(args)
    except (ValueError, FileNotFoundError, KeyError) as error:
        if args.debug:
            raise
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        print(f"reglab: error: {message}", file=sys.stderr)
        return 2
    except RuntimeError as error:  # e.g. a cluster that dropped trials: what is stored stays, --resume goes on
        if args.debug:
            raise
        print(f"reglab: error: {str(error).strip().splitlines()[0]}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("reglab: interrupted", file=sys.stderr)
        return 130


def console_main() -> None:
    """The ``reglab`` console script and ``python -m reglab``: prepares the process it owns for many
    trainings (``prepare_process``), then runs ``main``."""
    prepare_process()
    raise SystemExit(main())
