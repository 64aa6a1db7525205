"""The `pst` command, wiring only: the parser made of one module per group of commands (each command's options
beside what it prints), and how a failure is shown (one line and exit 2 for what a user can fix)."""
from __future__ import annotations

import argparse
import errno
import sys
import warnings

from pst.cli import data, models, runs, study, workflow
from pst.cli.options import Help

# The order `pst --help` lists them in: getting data, a run's life, the study, models' costs, then the workflow's steps.
GROUPS = (data, runs, study, models, workflow)


class _Parser(argparse.ArgumentParser):
    """A usage error is one line, as every other refusal is (exit 2); --help shows the usage."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}; `{self.prog} --help` shows the options\n")


def build_parser() -> argparse.ArgumentParser:
    import pst

    parser = _Parser(
        prog="pst", formatter_class=Help,
        description="Temporal Patch Shift (ECCV 2022), reproduced. The study itself runs through Snakemake/DVC "
                    "(`make reproduce`, README); these commands are its steps, usable on their own.",
        epilog="workflow steps (the Snakemake rules call them; rarely typed by hand): table, plot, report, launch, "
               "record")
    parser.add_argument("--version", action="version", version=f"pst {pst.__version__}")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error (also PST_DEBUG=1)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, text: str, func) -> argparse.ArgumentParser:
        # argparse %-formats a help, not a description: one text for both, its % doubled in the help
        p = sub.add_parser(name, help=text.replace("%", "%%"), description=text, formatter_class=Help)
        p.set_defaults(func=func)
        return p

    for group in GROUPS:
        group.add(command)
    return parser


def _expected_errors() -> tuple:
    """Failures a user can fix (bad input, missing or unwritable files, a busy run, a download that failed):
    one line naming the file, key or fix; anything else is a bug and keeps its traceback."""
    import yaml

    from pst.datasets.download import ChecksumError, DownloadError
    from pst.io import FolderInUseError

    dataset = sys.modules.get("pst.data.dataset")    # its error is raised only where it was imported: a refusal
    loader = (dataset.UnreadableVideosError,) if dataset else ()      # before any model does not import torch
    return ValueError, OSError, yaml.YAMLError, ChecksumError, DownloadError, FolderInUseError, *loader


def main(argv: list[str] | None = None) -> int:
    """Expected failures print ``pst <command>: error: <what and the fix>`` and exit 2 (a preempted training 75,
    retryable; Ctrl-C 130); ``--debug`` or PST_DEBUG=1 shows the traceback instead."""
    import os

    args = build_parser().parse_args(argv)
    debug = args.debug or os.environ.get("PST_DEBUG", "") not in ("", "0")
    where = f"pst {args.command}" + (f" {args.data_command}" if args.command == "data" else "")
    shown = warnings.formatwarning          # a warning is one line too, naming what it is about (not our source)
    warnings.formatwarning = lambda message, category, *_, **__: f"{where}: {category.__name__}: {message}\n"
    from pst.engine.run import Preempted, Terminated, terminate_raises

    try:
        with terminate_raises():
            return args.func(args)
    except (KeyboardInterrupt, Terminated) as err:
        if debug:
            raise
        how = "Ctrl-C" if isinstance(err, KeyboardInterrupt) else (err.args or ("SIGTERM",))[0]
        then = ("a training resumes from its last checkpoint" if args.command in ("train", "launch") else
                "nothing half-written is left")
        print(f"{where}: interrupted ({how}); finished work is kept and {then}: run the same command again",
              file=sys.stderr)
        return 130 if isinstance(err, KeyboardInterrupt) else err.exit_code
    except BrokenPipeError:             # the reader of the output went (`pst recipe show NAME | head`): no message
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141                      # as a process that SIGPIPE ended
    except Exception as err:  # noqa: BLE001 - sorted into expected (one line) and unexpected (traceback) below
        if debug:
            raise
        if isinstance(err, Preempted):
            print(f"{where}: {err}", file=sys.stderr)
            return err.exit_code
        if not isinstance(err, _expected_errors()):
            raise
        message = str(err) if not isinstance(err, OSError) or not err.filename else \
            f"{err.filename}: {err.strerror or err}"
        if isinstance(err, UnicodeEncodeError):           # a name made of bytes that are not UTF-8 (ValueError)
            snippet = err.object[max(0, err.start - 30):err.end + 10] if isinstance(err.object, str) else err.object
            message = (f"...{snippet!r}...: a name with bytes that are not UTF-8; give that path or value a UTF-8 "
                       "name")
        if isinstance(err, OSError) and err.errno in (errno.EACCES, errno.EPERM, errno.EROFS) and \
                "choose" not in message:
            message += "; check that folder's permissions, or choose another output"
        if type(err).__name__ != "MissingFilesError":     # a file name with a newline stays on one line
            message = message.replace("\n", "\\n")
        print(f"{where}: error: {message}", file=sys.stderr)
        return 2
    finally:
        warnings.formatwarning = shown


def run() -> None:
    """The `pst` console script: main(), then an exit that a late Ctrl-C does not turn into a traceback (the work
    is done or refused by then; the libraries' exit hooks, torch's among them, finish undisturbed)."""
    import signal

    code = main()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.exit(code)
