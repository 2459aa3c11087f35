"""`tillit-signer receipts show` and `audit ...`: what was signed, and the hash-chained audit log."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from tillit.signer.audit.chain import AuditBroken, parse_expected
from tillit.signer.audit.export import export_log
from tillit.signer.cli.console import JSON_HELP, counted, print_result
from tillit.signer.runtime import open_signer


@click.group()
def receipts() -> None:
    """Receipts of completed sign orders."""


@receipts.command("show")
@click.argument("order_ref")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@click.option("--jws", "as_jws", is_flag=True, help="The signed receipt as issued (compact JWS), on one line.")
def receipts_show(order_ref: str, as_json: bool, as_jws: bool) -> None:
    """Show what was signed, when, by whom and where: the signed receipt's claims once its signature
    verifies with the service key (`--jws`: the receipt as issued, to verify elsewhere)."""
    with open_signer() as signer:
        if as_jws:
            click.echo(signer.receipt_jws(order_ref))
            return
        receipt = signer.receipt(order_ref)
    print_result(receipt, as_json, receipt_text)


def receipt_text(receipt: dict[str, Any]) -> str:
    """A receipt as an administrator reads it: who signed what, when and where (`--json` has every claim)."""

    def when(seconds: Any) -> str:
        return datetime.fromtimestamp(float(seconds), UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if seconds else "-"

    device, kiosk, customer = receipt.get("device") or {}, receipt.get("kiosk") or {}, receipt.get("customer") or {}
    lines = [
        f"order        {receipt.get('orderRef')} (reference {receipt.get('reference')})",
        f"signed by    {customer.get('name')}, certificate {receipt.get('certificateSerial')}",
        f"at kiosk     {kiosk.get('name')}",
        f"approved on  {device.get('name')} ({device.get('id')}), {when(receipt.get('approvedAt'))}",
        f"completed    {when(receipt.get('completedAt'))}",
        f"text         {receipt.get('userVisibleData')}",
    ]
    for document in receipt.get("documents") or []:
        lines.append(f"document {document.get('index')}   {document.get('name')}")
        lines.append(f"  sha256     {document.get('sha256')} (as approved)")
        lines.append(f"  signed     {document.get('signedSha256')} ({document.get('format', 'signed')})")
    return "\n".join(lines)


@click.group()
def audit() -> None:
    """The hash-chained audit log."""


@audit.command("verify")
@click.option(
    "--expect",
    "expect",
    default=None,
    metavar="SEQ[:HASH]",
    help="An entry the log must still hold (as in an export's head.txt): detects a truncated tail.",
)
def audit_verify(expect: str | None) -> None:
    """Check every link of the audit chain, every checkpoint signed by the HSM's audit key, and the
    checkpoint anchored in the HSM (still there, same hash, none deleted); exit 1 at the first
    broken one."""

    try:
        expected = parse_expected(expect) if expect else None
    except ValueError as e:
        # Exit 2 as for click's usage errors: 1 says the log is broken.
        click.echo(f"tillit-signer: --expect: {e}", err=True)
        sys.exit(2)
    with open_signer() as signer:
        report = signer.audit_log.verify(expected)
    if report.ok:
        covered = (
            f", {counted(report.checkpoints, 'signed checkpoint')} (the newest at entry {report.covered_to})"
            if report.checkpoints
            else ", no signed checkpoint yet"
        )
        newer = counted(report.uncovered, "newer entry", "newer entries")
        tail = f"; {newer} not yet covered" if report.checkpoints and report.uncovered else ""
        anchored = f", anchored in the HSM at entry {report.anchored_to}" if report.anchored_to else ""
        notes = "".join(f"; {note}" for note in report.notes if "anchor" in note)
        click.echo(f"audit log intact: {counted(report.entries, 'entry', 'entries')}{covered}{anchored}{tail}{notes}")
        return
    click.echo(f"tillit-signer: audit log broken at entry {report.broken_at}: {report.reason}", err=True)
    sys.exit(1)


@audit.command("export")
@click.option(
    "--out",
    "out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder to write the export to (made if missing; files of an earlier export there are replaced).",
)
def audit_export(out: Path) -> None:
    """Verify the log against its checkpoints and the HSM's anchor (refusing, with nothing signed,
    when it does not hold), sign and anchor a checkpoint at the head, then write the entries (JSON
    lines), every checkpoint with its DER signature, the audit public key (PEM) and a README on
    checking them with openssl."""

    with open_signer() as signer:
        try:
            summary = export_log(signer.audit_log, out)
        except AuditBroken as e:
            click.echo(f"tillit-signer: audit export refused, nothing signed: {e}", err=True)
            sys.exit(1)
    entries = counted(summary["entries"], "entry", "entries")
    checkpoints = counted(len(summary["checkpoints"]), "signed checkpoint")
    click.echo(f"exported {entries} and {checkpoints} to {out} (head {summary['head']})")
