"""`tillit-signer kiosks ...` and `feedback report`: the kiosks' tokens and what customers rated there."""

from __future__ import annotations

import click

from tillit.signer.cli.console import JSON_HELP, print_result
from tillit.signer.runtime import open_signer


@click.group()
def kiosks() -> None:
    """Kiosks at the branches and staff clients, and their bearer tokens (not relying parties: those
    are `rps`)."""


@kiosks.command("add")
@click.option(
    "--name",
    required=True,
    help='The branch\'s name, which phones show ("Innlogging hos <name>"); two kiosks of one branch may share it.',
)
@click.option("--staff", is_flag=True, help="A back-office token that may queue agreements, not a kiosk.")
def kiosks_add(name: str, staff: bool) -> None:
    """Register a kiosk and print its bearer token (shown once; only its hash is stored)."""
    with open_signer() as signer:
        _, token = signer.add_kiosk(name, role="staff" if staff else "kiosk")
    click.echo(token)


@kiosks.command("list")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
def kiosks_list(as_json: bool) -> None:
    """List kiosks and staff clients (relying parties: `rps list`)."""
    with open_signer() as signer:
        found = [
            {"id": k.id, "name": k.name, "role": k.role, "status": k.status, "createdAt": k.created_at}
            for k in signer.kiosks()
        ]
    print_result(
        found,
        as_json,
        lambda ks: "\n".join(f"{k['id']}  {k['name']:30} {k['role']:6} {k['status']}" for k in ks) or "no kiosks",
    )


@kiosks.command("revoke")
@click.argument("kiosk")
def kiosks_revoke(kiosk: str) -> None:
    """Revoke a kiosk's token (by id or name)."""
    with open_signer() as signer:
        revoked = signer.revoke_kiosk(kiosk)
    click.echo(f"kiosk {revoked.name} revoked")


@click.group()
def feedback() -> None:
    """Customers' ratings after login and signing (anonymous)."""


@feedback.command("report")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
def feedback_report(as_json: bool) -> None:
    """Counts and average rating per kiosk and kind of order."""
    with open_signer() as signer:
        rows = signer.feedback.report()
    print_result(
        rows,
        as_json,
        lambda rs: (
            "\n".join(f"{r['kiosk']:30} {r['kind']} {r['count']:5} answers, mean {r['average']:.2f}" for r in rs)
            or "no feedback yet"
        ),
    )
