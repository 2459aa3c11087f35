"""How every Tillit command fails: one line on stderr and exit 1, never a traceback unless asked.

`OneLineErrors` is the click group class of the four commands' roots (`tillit-signer`, `tillit-hsm`,
`tillit-kiosk`, `tillit-phone`). Whatever a subcommand raises ends as `<program>: <message>` on
stderr and exit code 1: a configuration mistake (`ConfigError`), a file the system refuses
(`OSError`), and the errors each program names with their message; any other exception as
`internal error: <type>: <message>; run with --debug for details`. The root's `--debug` option (or
TILLIT_DEBUG=1) lets the exception through with its traceback instead. click's own usage errors
(exit 2) and a command's own `sys.exit` pass unchanged.
It imports no Tillit package but `tillit.config`, so that all of them may import it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import click

from tillit.config import ConfigError

DEBUG_VARIABLE = "TILLIT_DEBUG"
_DEBUG = "tillit.debug"

Explain = Callable[[Any], str]


def _file_error(error: OSError) -> str:
    return f"{error.filename}: {error.strerror}" if error.filename and error.strerror else str(error)


def _remember_debug(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    ctx.meta[_DEBUG] = value


def require_terminal(what: str) -> None:
    """Refuse, as a usage error (exit 2), to start a full-screen interface without a terminal on
    standard input and output: Textual would start anyway, take a whole CPU and never quit."""
    import sys

    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise click.UsageError(f"{what} needs a terminal (standard input and output are not one)")


def one_line(text: str) -> str:
    """`text` on one line: its lines joined, runs of blanks as one."""
    return " ".join(text.split())


class OneLineErrors(click.Group):
    """A root command group whose subcommands' errors end as one line on stderr and exit 1.

    `explain` maps exception types to the message they are shown with (the first type in the
    mapping that matches wins); `ConfigError` and `OSError` are always explained."""

    def __init__(self, *args: Any, explain: Mapping[type[Exception], Explain] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.explain: dict[type[Exception], Explain] = {ConfigError: str, **(explain or {}), OSError: _file_error}
        self.params.append(
            click.Option(
                ["--debug"],
                is_flag=True,
                envvar=DEBUG_VARIABLE,
                expose_value=False,
                callback=_remember_debug,
                help=f"Show an error's traceback (also {DEBUG_VARIABLE}=1).",
            )
        )

    def message(self, error: Exception) -> str:
        """The one line an error is shown with."""
        for kind, explain in self.explain.items():
            if isinstance(error, kind):
                return one_line(explain(error)) or type(error).__name__
        detail = one_line(str(error))
        detail = f"{type(error).__name__}: {detail}" if detail else type(error).__name__
        return f"internal error: {detail}; run with --debug for details"

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise  # click's own: a usage error it prints in one line, an exit, ^C
        except Exception as error:
            if ctx.meta.get(_DEBUG):
                raise
            click.echo(f"{ctx.info_name}: {self.message(error)}", err=True)
            ctx.exit(1)
