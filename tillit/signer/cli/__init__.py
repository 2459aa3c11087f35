"""`tillit-signer`: the daemon and the administrators' commands.

`main` is the root group (the `tillit-signer` entry point); each command group lives in a module of
its own and is added here. Every command's errors end as one line on stderr through the root's
`OneLineErrors` (tillit.cli_errors), with --debug for the traceback.
"""

from __future__ import annotations

import os

import click

from tillit.cli_errors import OneLineErrors
from tillit.hsm.errors import HsmError
from tillit.hsm.settings import PRIVATE_UMASK
from tillit.signer import errors
from tillit.signer.cli.agreements import agreements, outbox
from tillit.signer.cli.audit import audit, receipts
from tillit.signer.cli.customers import customers
from tillit.signer.cli.kiosks import feedback, kiosks
from tillit.signer.cli.rps import rps
from tillit.signer.cli.serve import config, serve
from tillit.signer.cli.tls import tls
from tillit.signer.cli.verify import renew_archive_timestamps, verify


def _signer_error(error: errors.SignerError) -> str:
    return error.reason


def _hsm_error(error: HsmError) -> str:
    return f"HSM: {error}"


@click.group(cls=OneLineErrors, explain={errors.SignerError: _signer_error, HsmError: _hsm_error})
@click.version_option(package_name="tillit")
def main() -> None:
    """The Tillit signer daemon and its administration."""
    os.umask(PRIVATE_UMASK)  # what it writes in TILLIT_HOME is for this user alone


for command in (
    serve,
    config,
    tls,
    customers,
    kiosks,
    rps,
    feedback,
    receipts,
    audit,
    agreements,
    outbox,
    verify,
    renew_archive_timestamps,
):
    main.add_command(command)
