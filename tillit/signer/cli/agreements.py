"""`tillit-signer agreements ...` and `outbox list`: agreements queued at the branch, messages not sent."""

from __future__ import annotations

from pathlib import Path

import click

from tillit.signer.cli.console import JSON_HELP, print_result
from tillit.signer.runtime import open_signer


@click.group()
def agreements() -> None:
    """Agreements waiting at the branch for a customer to sign."""


@agreements.command("add")
@click.option("--personal-number", required=True, help="The customer's national identity number (11 digits).")
@click.option("--title", required=True, help="What the kiosk lists the agreement as (1-200 characters).")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
def agreements_add(personal_number: str, title: str, file: Path, as_json: bool) -> None:
    """Queue the PDF agreement FILE for a customer to sign at a kiosk."""
    with open_signer() as signer:
        added = signer.agreements.add(personal_number, title, file.name, file.read_bytes())
    print_result({"id": added.id, "title": added.title}, as_json, lambda a: f"agreement {a['id']} queued: {a['title']}")


@agreements.command("list")
@click.option("--personal-number", default=None, help="Only this customer's agreements (default: everyone's).")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
def agreements_list(personal_number: str | None, as_json: bool) -> None:
    """List agreements, waiting and signed."""
    with open_signer() as signer:
        found = [
            {"id": a.id, "title": a.title, "name": a.name, "signedOrder": a.signed_order, "signedAt": a.signed_at}
            for a in signer.agreements.all(personal_number)
        ]
    print_result(
        found,
        as_json,
        lambda xs: (
            "\n".join(f"{a['id']}  {a['title']:40} {'signed' if a['signedAt'] else 'waiting'}" for a in xs)
            or "no agreements"
        ),
    )


@click.group()
def outbox() -> None:
    """Messages the default sender wrote instead of sending SMS and e-mail."""


@outbox.command("list")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
def outbox_list(as_json: bool) -> None:
    """List the outbox, oldest first."""
    with open_signer() as signer, signer.store.tx() as tx:
        messages = tx.outbox()
    print_result(
        messages,
        as_json,
        lambda ms: "\n".join(f"{m['channel']:5} {m['recipient']:25} {m['body']}" for m in ms) or "outbox empty",
    )
