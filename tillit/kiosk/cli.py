"""`tillit-kiosk`: the kiosk against a configured signer; `tillit-kiosk demo`: everything embedded."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import NoReturn

import click

from tillit.cli_errors import OneLineErrors, require_terminal
from tillit.kiosk.settings import KioskSettings


def refuse(message: str) -> NoReturn:
    """Bad input: one line on stderr, `tillit-kiosk: <message>`, and exit 1 (no traceback, no UI)."""
    click.echo(f"tillit-kiosk: {message}", err=True)
    sys.exit(1)


@click.group(cls=OneLineErrors, invoke_without_command=True)
@click.version_option(package_name="tillit")
@click.option("--signer-url", default=None, help="The signer's base URL (TILLIT_KIOSK_SIGNER_URL).")
@click.option(
    "--token-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="File with the kiosk's bearer token (TILLIT_KIOSK_TOKEN_FILE).",
)
@click.pass_context
def main(ctx: click.Context, signer_url: str | None, token_file: Path | None) -> None:
    """The branch kiosk: log in with BankID, read and sign agreements.

    Configuration: $TILLIT_KIOSK_CONFIG or $TILLIT_HOME/kiosk.toml, and TILLIT_KIOSK_* variables.
    """
    os.umask(0o077)  # receipts, and the demo's whole TILLIT_HOME, are for this user alone
    if ctx.invoked_subcommand is not None:
        return
    from tillit.kiosk.app import KioskApp  # Textual loads only to run the kiosk, not for a subcommand or --help
    from tillit.kiosk.client import SignerClient  # with the app it serves

    updates: dict[str, object] = {}
    if signer_url is not None:  # an empty one is refused below, not taken for the configured one
        updates["signer_url"] = signer_url
    if token_file:
        updates["token_file"] = token_file
    settings = KioskSettings(**updates)  # type: ignore[arg-type]
    if not settings.signer_url.startswith(("http://", "https://")):
        refuse(f"the signer URL must be an http:// or https:// URL, not {settings.signer_url!r}")
    try:
        token = settings.kiosk_token()
    except OSError as e:
        refuse(f"cannot read the kiosk token: {e}")
    except UnicodeDecodeError:
        refuse(f"cannot read the kiosk token: {settings.token_file} is not a text file (a token is one line)")
    if not token:
        refuse(
            "no kiosk token: set TILLIT_KIOSK_TOKEN_FILE (a file from `tillit-signer kiosks add`) "
            "or token_file in kiosk.toml"
        )
    require_terminal("tillit-kiosk")
    client = SignerClient(settings.signer_url, token, timeout=settings.timeout_seconds)
    try:
        KioskApp(settings, client).run()
    finally:
        client.close()


@main.command()
@click.option(
    "--port",
    type=int,
    default=None,
    help="Loopback port of the embedded signer (default 8700, or TILLIT_KIOSK_DEMO_PORT). Never changed silently.",
)
@click.option("--setup-only", is_flag=True, help="Prepare TILLIT_HOME (token, CA, customers, agreements) and exit.")
def demo(port: int | None, setup_only: bool) -> None:
    """Everything embedded: SoftHSM token, CA, demo customers with a phone, the signer, the kiosk.

    TILLIT_HOME (created if missing; default ~/.local/share/tillit-demo via scripts/demo) is reused
    on the next run: the same customers, phone profile and kiosk token.
    """
    from tillit.kiosk.demo import DemoError, run_demo  # the demo pulls in the signer and the HSM layer: only for `demo`

    try:
        run_demo(port=port, setup_only=setup_only)
    except DemoError as e:
        refuse(f"demo: {e}")
