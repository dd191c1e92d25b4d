"""Entry point: ``kmscli`` and ``python -m kmscli``; maps every failure to the AWS CLI exit codes."""

from __future__ import annotations

import gc
import os
import sys

# `kmscli --version` imports nothing beyond the interpreter's own modules, not even typing
# (type checkers treat any constant named TYPE_CHECKING as True)
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import NoReturn

#: Set once a command line ran on the fast path (cli/fastpath.py): no Click, pager waited for.
_ran_fast_path = False

#: The usage text the AWS CLI v2 writes with an argparse error or unknown options (its ``USAGE``).
USAGE = """usage: kmscli [options] <command> [<subcommand> ...] [parameters]
To see help text, you can run:

  kmscli --help
  kmscli <command> --help
  kmscli <command> <subcommand> --help"""

#: How the AWS CLI v2 (2.34 and later) opens every error it writes to stderr (``errorformat.py``:
#: ``aws: [ERROR]: <message>``, after an empty line), with kmscli's name for ``aws``.
ERROR_PREFIX = "kmscli: [ERROR]: "


def _print_error(text: str) -> None:
    """Write an error message; caller-supplied values in it (an alias, a key id, a file name) have
    their control characters made visible, so an error cannot drive the terminal either."""
    from kmscli.cli.render import visible

    text = "\n".join(visible(line) for line in text.rstrip("\n").split("\n"))
    try:
        sys.stderr.write(text + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def _write_error(message: str) -> None:
    """The AWS CLI v2's ``write_error``: an empty line, then the prefixed message."""
    _print_error("\n" + ERROR_PREFIX + message.strip())


def _interrupted() -> int:
    """Ctrl-C: exit 130 after a newline on stdout, as the AWS CLI v2 ends an interrupted command
    (``InterruptExceptionHandler`` writes it to stdout; nothing goes to stderr)."""
    try:
        sys.stdout.write("\n")
        sys.stdout.flush()
    except (OSError, ValueError):
        pass
    return 130  # errors.EXIT_INTERRUPTED


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Run the CLI and return (and exit with) the AWS CLI v2 exit code.

    ``environ`` is the environment the invocation resolves (``os.environ`` by default): the one
    place the process environment is read.
    """
    args = sys.argv[1:] if argv is None else argv
    if args == ["--version"]:  # fast path: no imports beyond the interpreter's own
        from kmscli import __version__

        sys.stdout.write(f"kmscli {__version__}\n")
        return 0
    if not args:  # as bare `aws`: argparse's error, then the usage text
        _write_error(
            f"An error occurred (ParamValidation): the following arguments are required: command\n\n{USAGE}"
        )
        return 252  # errors.EXIT_USAGE, without importing it
    from kmscli.cli import globalopts

    globalopts.ENVIRON[0] = os.environ if environ is None else environ
    code = _run(args, console=argv is None)
    if argv is None:
        _exit(code, fast=_ran_fast_path and not _wants_debug(args))
    return code


def _wants_debug(args: list[str]) -> bool:
    """``--debug``, or an abbreviation of it (``--deb``: no other option starts so), before ``--``."""
    for arg in args:
        if arg == "--":
            return False
        if len(arg) >= 5 and "--debug".startswith(arg):
            return True
    return False


def _exit(code: int, *, fast: bool) -> NoReturn:
    """Exit with ``code``; after a fast-path command, skip the interpreter's teardown.

    Tearing down a couple of hundred modules costs a session ``kmscli encrypt`` about a tenth of
    its wall time (bench/encrypt_session.py) and does nothing a finished command needs: its files
    are written, fsynced and closed, the pager has been waited for, and there are no threads. The
    standard streams are flushed here; anything that registered an exit handler gets the normal
    exit, as does any failure to flush (so Python reports it as usual).
    """
    import atexit  # built in: nothing to load

    if fast and getattr(atexit, "_ncallbacks", lambda: 1)() == 0:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except (OSError, ValueError):
            sys.exit(code)
        os._exit(code)
    sys.exit(code)


class _NotRaised(Exception):
    """Stands in for a Click exception class while Click is not imported (nothing can raise it)."""


def _click_error(name: str) -> type[BaseException]:
    """``click.exceptions.NAME`` if Click is loaded, else a class nothing raises.

    The fast path runs without importing Click; an ``except`` clause evaluates this only when an
    exception is being matched, so Click's classes are used whenever Click could have raised one.
    """
    module = sys.modules.get("click.exceptions")
    found: type[BaseException] = getattr(module, name) if module is not None else _NotRaised
    return found


def _error_format(args: list[str]) -> str:
    """``--cli-error-format`` (its last value before ``--``), else ``AWS_CLI_ERROR_FORMAT``, else
    ``enhanced``, as the AWS CLI v2 picks it (a value Click refused counts as not given)."""
    from kmscli.cli.globalopts import ENVIRON
    from kmscli.cli.options import ERROR_FORMATS

    found = ""
    for i, arg in enumerate(args):
        if arg == "--":
            break
        if arg == "--cli-error-format" and i + 1 < len(args):
            found = args[i + 1]
        elif arg.startswith("--cli-error-format="):
            found = arg.partition("=")[2]
    if found not in ERROR_FORMATS:
        found = (ENVIRON[0] or {}).get("AWS_CLI_ERROR_FORMAT", "").lower()
    return found if found in ERROR_FORMATS else "enhanced"


def _structured_error(args: list[str], info: dict[str, str]) -> bool:
    """With ``--cli-error-format json|yaml|text|table``, write the error's fields to stderr in that
    format, as the AWS CLI v2 does for service, parameter and configuration errors; False (print
    the message as usual) for ``enhanced`` and ``legacy``."""
    fmt = _error_format(args)
    if fmt in ("enhanced", "legacy"):
        return False
    from kmscli.cli.render import render, visible

    text = render(info, fmt, title="error")
    try:
        sys.stderr.write(visible(text, keep_lines=True) if fmt != "json" else text)
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    return True


def _report(args: list[str], code: str | None, message: str) -> None:
    """Write a kmscli error as the AWS CLI v2 writes its own: a parameter (``ParamValidation``) or
    configuration (``Configuration``) error as data in a structured ``--cli-error-format``, else
    ``An error occurred (CODE): MESSAGE`` (``enhanced``, the default) or the message alone
    (``legacy``); any other error is its message alone, whatever the format."""
    if code is not None:
        if _structured_error(args, {"Code": code, "Message": message}):
            return
        if _error_format(args) != "legacy":
            message = f"An error occurred ({code}): {message}"
    _write_error(message)


def _run(args: list[str], *, console: bool = False) -> int:
    global _ran_fast_path
    debug = _wants_debug(args)
    from kmscli import errors

    try:
        # One operation in a short-lived process creates few reference cycles, while the cyclic
        # collector runs dozens of times over the modules being imported: pause it meanwhile. A
        # console run that took the fast path leaves it off: the process ends next, and turning it
        # back on would start a full collection of everything imported (milliseconds) on the way out.
        gc.disable()
        try:
            from kmscli.cli import fastpath

            parsed = fastpath.parse(args)
            if parsed is not None:  # a plain KMS operation command line: no Click needed
                _ran_fast_path = True
                fastpath.execute(parsed)
                return 0
        finally:
            if not (_ran_fast_path and console):
                gc.enable()
        from kmscli.cli.main import cli

        rc = cli.main(args=args, prog_name="kmscli", standalone_mode=False)
        # without standalone mode Click returns (not raises) the code of ``ctx.exit(n)`` / ``Exit(n)``
        return rc if isinstance(rc, int) and not isinstance(rc, bool) else 0
    except errors.KMSError as exc:
        if debug:
            import traceback

            traceback.print_exc()
        op = exc.operation or "unknown"
        # as botocore parses a KMS error: Message and Code, then the shape's own `message` member
        if _structured_error(args, {"Message": exc.message, "Code": exc.code, "message": exc.message}):
            return exc.exit_code
        _write_error(f"An error occurred ({exc.code}) when calling the {op} operation: {exc.message}")
        return exc.exit_code
    except errors.UnknownOptionsError as exc:  # the AWS CLI v2 writes it so whatever the error format
        _print_error(f"\n{USAGE}\n\n\n{ERROR_PREFIX}{exc.message}")
        return exc.exit_code
    except errors.KmscliError as exc:
        if debug:
            import traceback

            traceback.print_exc()
        if exc.exit_code < errors.EXIT_USAGE:  # a kmscli check's negative answer (exit 1), not an error
            _print_error(f"kmscli: error: {exc.message}")
            return exc.exit_code
        message = exc.message + (f"\n\n{USAGE}" if isinstance(exc, errors.ArgumentError) else "")
        codes = {errors.EXIT_USAGE: "ParamValidation", errors.EXIT_ENVIRONMENT: "Configuration"}
        _report(args, codes.get(exc.exit_code), message)
        return exc.exit_code
    except _click_error("Exit") as exc:
        return int(exc.exit_code)  # type: ignore[attr-defined]
    except (errors.Interrupted, _click_error("Abort")):  # Abort: Ctrl-C at a prompt (which ended its line)
        return _interrupted()
    except _click_error("ClickException") as exc:
        if debug:
            import traceback

            traceback.print_exc()
        message = exc.format_message()  # type: ignore[attr-defined]
        _report(args, "ParamValidation", f"{message}\n\n{USAGE}")  # argparse's errors, in the AWS CLI
        return errors.EXIT_USAGE
    except KeyboardInterrupt:
        return _interrupted()
    except BrokenPipeError:
        # the reader went away (e.g. `| head`): not an error of ours
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except OSError:
            pass
        return 0
    except (OSError, MemoryError) as exc:
        # the machine's resources failed underneath (a full disk, a file size, open-file or memory
        # limit, a folder removed or made read-only): the environment, not a defect (docs/cli.md)
        if debug:
            import traceback

            traceback.print_exc()
        if isinstance(exc, MemoryError):
            _write_error(f"out of memory: {exc or 'the allocation failed'}")
        else:
            _write_error(errors.os_error_text(exc))
        return errors.EXIT_ENVIRONMENT
    except Exception as exc:
        if debug:
            import traceback

            traceback.print_exc()
        _write_error(f"internal error: {type(exc).__name__}: {exc} (run with --debug for details)")
        return errors.EXIT_OTHER


if __name__ == "__main__":
    sys.exit(main())
