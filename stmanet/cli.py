"""The `stmanet` command line. Each subcommand is a `_cmd_*` function over the engine."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from stmanet.errors import STMANetError

log = logging.getLogger(__name__)

Command = Callable[[argparse.Namespace], int]


def _cmd_summary(args: argparse.Namespace) -> int:
    from stmanet.engine.summary import summarize

    overrides = dict(args.set or [])
    print(summarize(args.model, num_classes=args.classes, frames=args.frames, size=args.size,
                    overrides=overrides).to_text())
    return 0


def _cmd_models(args: argparse.Namespace) -> int:
    from stmanet.models import list_models

    for name, description in list_models().items():
        print(f"{name:20s} {description}")
    return 0


def _parse_override(text: str) -> tuple[str, object]:
    """`key=value` with value read as bool, int, float or text."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected key=value, got {text!r}")
    key, raw = text.split("=", 1)
    value: object = raw
    if raw.lower() in ("true", "false", "on", "off"):
        value = raw.lower() in ("true", "on")
    else:
        for kind in (int, float):
            try:
                value = kind(raw)
                break
            except ValueError:
                continue
    return key.strip(), value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stmanet", description="ST-MANet action recognition: models, training, prediction.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("summary", help="parameters, GFLOPs and per-stage shapes of a model")
    p.add_argument("model", help="model name (see `stmanet models`)")
    p.add_argument("--frames", type=int, default=32, help="frames per clip (default 32)")
    p.add_argument("--size", type=int, default=112, help="crop side in pixels (default 112)")
    p.add_argument("--classes", type=int, default=101, help="number of classes (default 101)")
    p.add_argument("--set", type=_parse_override, action="append", metavar="KEY=VALUE",
                   help="override a model option, e.g. --set tda=off (repeatable)")
    p.set_defaults(func=_cmd_summary)

    p = sub.add_parser("models", help="list the named model variants")
    p.set_defaults(func=_cmd_models)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    func: Command = args.func
    try:
        return func(args)
    except STMANetError as exc:
        print(f"stmanet {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"stmanet {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
