"""The ``flexopt`` command line.

Every error a user can cause ends in a clear message and exit code 2; an
unexpected failure ends in a short "internal error" note and exit code 3 —
never a traceback (set FLEXOPT_DEBUG=1 to see one).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from typing import Sequence

from flexopt import __version__
from flexopt.errors import FlexoptError

EXIT_OK = 0
EXIT_USER_ERROR = 2
EXIT_INTERNAL_ERROR = 3


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flexopt",
        description="How much flexibility can the DERs behind a primary substation really sell at the TSO/DSO "
                    "interface, at what price, and where does the distribution grid block it?",
    )
    parser.add_argument("--version", action="version", version=f"flexopt {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    check = commands.add_parser("check", help="parse and validate scenario files; print a summary or the problems")
    check.add_argument("files", nargs="+", metavar="FILE", help="scenario files (.flex)")
    check.add_argument("--quiet", "-q", action="store_true", help="print only problems")
    check.add_argument("--timing", action="store_true", help="print how long parsing and validation took")

    profiles = commands.add_parser("profiles", help="write the typical-day profiles and prices of a scenario to CSV")
    profiles.add_argument("file", metavar="FILE", help="scenario file (.flex)")
    profiles.add_argument("--case", metavar="NAME", help="case whose prices and DERs to use (default: the first)")
    profiles.add_argument("--out", metavar="CSV", help="output CSV (default: outputs/<scenario>/profiles.csv)")

    run = commands.add_parser("run", help="assess the cases of a scenario: datasets, Table 3 and Table 4")
    run.add_argument("file", metavar="FILE", help="scenario file (.flex)")
    run.add_argument("--case", dest="cases", action="append", metavar="NAME",
                     help="case to assess (repeat, or separate with commas; default: every case)")
    run.add_argument("--out", metavar="DIR", default="outputs", help="output folder (default: outputs)")
    run.add_argument("--quiet", "-q", action="store_true", help="print nothing but problems")
    _sweep_options(run)

    compare = commands.add_parser("compare", help="assess cases (frameworks) and placement draws side by side")
    compare.add_argument("file", metavar="FILE", help="scenario file (.flex)")
    compare.add_argument("--cases", action="append", metavar="A,B,...", help="cases to compare (default: every case)")
    compare.add_argument("--out", metavar="DIR", default="outputs", help="output folder (default: outputs)")
    compare.add_argument("--quiet", "-q", action="store_true", help="print nothing but problems")
    _sweep_options(compare)

    report = commands.add_parser("report", help="tables, figures and report.html from stored datasets")
    report.add_argument("files", nargs="+", metavar="RUN.nc", help="datasets written by `flexopt run`")
    report.add_argument("--out", metavar="DIR", help="output folder (default: the first dataset's folder)")

    export = commands.add_parser("export-nets", help="write one pandapower JSON network per feeder")
    export.add_argument("file", metavar="FILE", help="scenario file (.flex)")
    export.add_argument("--case", metavar="NAME", help="case whose DERs to place (default: the first)")
    export.add_argument("--out", metavar="DIR", required=True, help="output folder")

    serve = commands.add_parser("serve", help="the workbench in the browser: edit, check, run and compare cases")
    serve.add_argument("file", nargs="?", metavar="FILE", help="scenario file to open (default: list the scenarios "
                       "of the current folder)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine "
                       "only; another address prints a warning)")
    serve.add_argument("--port", type=_port, default=8765, help="port (default 8765)")
    serve.add_argument("--jobs", "-j", type=_positive, default=1, metavar="N",
                       help="cases a run assesses at once in local processes (default 1); runs are queued")
    return parser


def _port(text: str) -> int:
    value = _positive(text)
    if value > 65535:
        raise argparse.ArgumentTypeError("a port is a number from 1 to 65535")
    return value


def _sweep_options(command: argparse.ArgumentParser) -> None:
    command.add_argument("--verbose", "-v", action="store_true", help="also report every feeder as it is assessed")
    command.add_argument("--jobs", "-j", type=_positive, default=1, metavar="N",
                         help="assess up to N cases or draws at once in local processes (default 1)")
    command.add_argument("--scheduler", metavar="tcp://HOST:PORT", type=_scheduler_address,
                         help="run the members on this dask.distributed scheduler instead")
    command.add_argument("--no-figures", dest="figures", action="store_false",
                         help="batch work: datasets, tables and a report.html without figures (no PNG drawn)")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


_SCHEDULER_HINT = "give the address `dask scheduler` prints, e.g. tcp://127.0.0.1:8786"


def _scheduler_address(text: str) -> str:
    """A dask scheduler address tcp://HOST:PORT (or tls://), refused at parsing when malformed."""
    from urllib.parse import urlsplit

    scheme, sep, rest = text.strip().partition("://")
    if not sep or scheme.lower() not in ("tcp", "tls"):
        raise argparse.ArgumentTypeError(f"'{text}' is not tcp://HOST:PORT; {_SCHEDULER_HINT}")
    try:
        parts = urlsplit(f"{scheme.lower()}://{rest}")
        port = parts.port
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}': the port must be a number from 1 to 65535; "
                                         f"{_SCHEDULER_HINT}") from None
    if not parts.hostname or parts.path.strip("/") or parts.query or parts.fragment or parts.username:
        raise argparse.ArgumentTypeError(f"'{text}' is not tcp://HOST:PORT; {_SCHEDULER_HINT}")
    if port is None or not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"'{text}' lacks a port from 1 to 65535; {_SCHEDULER_HINT}")
    return f"{scheme.lower()}://{rest.rstrip('/')}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USER_ERROR
    try:
        if args.command == "check":
            return _check(args)
        if args.command == "profiles":
            from flexopt.run import profiles_command

            return profiles_command(args.file, args.case, args.out)
        if args.command == "run":
            from flexopt.run import run_command

            return run_command(args.file, args.cases, args.out, args.quiet, args.jobs, args.scheduler, args.verbose,
                               args.figures)
        if args.command == "compare":
            from flexopt.run import compare_command

            return compare_command(args.file, args.cases, args.out, args.quiet, args.jobs, args.scheduler,
                                   args.verbose, args.figures)
        if args.command == "report":
            from flexopt.run import report_command

            return report_command(args.files, args.out)
        if args.command == "serve":
            from flexopt.web.app import serve

            return serve(args.file, args.host, args.port, args.jobs)
        if args.command == "export-nets":
            from flexopt.run import export_nets_command

            return export_nets_command(args.file, args.case, args.out)
    except KeyboardInterrupt:  # the sweep has stopped its workers and removed their temporary files
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into e.g. `head`, which stopped reading: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except FlexoptError as err:
        print(err.format(), file=sys.stderr)
        return EXIT_USER_ERROR
    except Exception:  # noqa: BLE001 - the last line of defence: never a traceback for a user
        if os.environ.get("FLEXOPT_DEBUG"):
            traceback.print_exc()
        kind, value, _ = sys.exc_info()
        print(f"flexopt: internal error ({kind.__name__}: {value}). This is a bug in flexopt, not in your input; "
              "please report it with the scenario file. Set FLEXOPT_DEBUG=1 for details.", file=sys.stderr)
        return EXIT_INTERNAL_ERROR
    parser.error(f"unknown command {args.command}")
    return EXIT_USER_ERROR


def entry() -> int:
    """The ``flexopt`` command (and ``python -m flexopt``): :func:`main`, then a quick exit. Every output is
    written and closed by then; the interpreter's last garbage collections over the objects pandapower,
    matplotlib and xarray leave behind took about 1 s of every command (more than a rerun's work), so those
    objects are frozen out of them."""
    import gc

    code = main()
    gc.freeze()
    return code


def _check(args: argparse.Namespace) -> int:
    from flexopt.language.summary import format_summary
    from flexopt.language.validate import load_scenario

    status = EXIT_OK
    for index, file in enumerate(args.files):
        started = time.perf_counter()
        try:
            scenario, warnings = load_scenario(file)
        except FlexoptError as err:
            print(err.format(), file=sys.stderr)
            n = len(err.errors)
            print(f"{file}: {n} problem{'s' if n != 1 else ''} found", file=sys.stderr)
            status = EXIT_USER_ERROR
            continue
        elapsed = time.perf_counter() - started
        for warning in warnings:
            print(warning.format(), file=sys.stderr)
        if not args.quiet:
            if index:
                print()
            print(format_summary(scenario, file))
        elif not warnings:
            print(f"{file}: OK")
        if args.timing:
            print(f"{file}: checked in {elapsed * 1000:.0f} ms", file=sys.stderr)
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(entry())
