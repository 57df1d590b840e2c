"""The `stmanet` command line. Each subcommand is a `_cmd_*` function over the engine.

Exit codes: 0 done; 2 refused before the work (a bad option or input, an output that cannot be
written: one line on stderr naming the file); 1 the work failed part way (a write that failed,
some of several videos unreadable: what could be done is kept and the failure named); 130 (or
128 + signal) interrupted.

Each family of subcommands is a module here: data.py (synth, sequence), training.py
(summary, models, train, evaluate, openset, import-hara), prediction.py (predict,
evaluate-timeline, count, evaluate-reps), batch.py (predict --output-dir, report);
common.py holds what they share.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from stmanet.cli import batch, data, prediction, training
from stmanet.errors import STMANetError

Command = Callable[[argparse.Namespace], int]


def build_parser(prog: str = "stmanet") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog, description="ST-MANet action recognition: models, training, prediction.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for family in (training, data, prediction, batch):
        family.add_commands(sub)
    return parser


def command_names() -> list[str]:
    """The subcommands (train, predict, ...), for a program that passes them on to `main`, as
    the desktop program does with `stmanet-app train ...`."""
    parser = build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return list(action.choices)
    return []


def main(argv: Sequence[str] | None = None, *, prog: str = "stmanet") -> int:
    """Run one subcommand; `prog` is the program name shown in usage and error messages."""
    args = build_parser(prog).parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    func: Command = args.func
    try:
        return func(args)
    except STMANetError as exc:
        print(f"{prog} {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a write that failed part way: a full disk, a vanished folder
        where = f"{exc.filename}: " if exc.filename else ""
        reason = exc.strerror or str(exc)
        print(f"{prog} {args.command}: error: {where}cannot write: {reason}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{prog} {args.command}: interrupted", file=sys.stderr)
        return 130
