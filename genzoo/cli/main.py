"""The ``genzoo`` command: one module per subcommand, one place that handles errors.

Every user error ends as one line on stderr and exit code 2; ``--debug`` shows the
traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings

from genzoo import __version__

SUBCOMMANDS = ("list", "train", "sample", "eval", "complete", "interpolate", "manifold", "classify", "outliers", "bench",
               "dynamics", "superres", "predict", "probe", "prompts", "simgan-eval",
               "serve", "quickstart")


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and still exit code 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="genzoo", description="Generative models: train, sample, score, compare.")
    p.add_argument("--version", action="version", version=f"genzoo {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in SUBCOMMANDS:
        mod = importlib.import_module(f"genzoo.cli.{name.replace('-', '_')}_cmd")
        sp = sub.add_parser(name, help=mod.HELP, description=mod.__doc__)
        sp.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
        mod.add_arguments(sp)
        sp.set_defaults(_execute=mod.execute)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    if getattr(args, "debug", False):
        return int(args._execute(args) or 0)
    formatwarning = warnings.formatwarning
    # a warning for the user is one line too (with --debug: Python's own, with the source line)
    warnings.formatwarning = lambda message, category, *a, **k: f"genzoo {args.command}: warning: {message}\n"
    try:
        return int(args._execute(args) or 0)
    except KeyboardInterrupt:
        print("genzoo: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # one line for the user; the traceback only with --debug
        from genzoo.errors import GenzooError

        if isinstance(e, GenzooError):
            print(f"genzoo {args.command}: error: {e}", file=sys.stderr)
            return 2
        print(f"genzoo {args.command}: internal error: {type(e).__name__}: {e} "
              "(run again with --debug for the traceback)", file=sys.stderr)
        return 1
    finally:
        warnings.formatwarning = formatwarning


if __name__ == "__main__":
    raise SystemExit(main())
