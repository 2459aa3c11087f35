"""`tillit-signer verify` and `archive-timestamp`: long-term signatures checked offline and renewed."""

from __future__ import annotations

import contextlib
import functools
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import click
from asn1crypto import pem, x509

from tillit.durable_files import replace_file_durably
from tillit.hsm.errors import CaNotInitialised, TokenNotFound
from tillit.signer.cli.console import JSON_HELP, print_result
from tillit.signer.runtime import open_signer

# pyHanko's validation and signing (tillit.signer.verify, .longterm, .renewal) are imported in the
# commands that use them: they take about 0.5 s to import, which every other command of
# `tillit-signer` would pay, since click loads every command's module at start.


def _quiet_validation_logs() -> None:
    """pyHanko logs each step of a validation as a warning; the verdict says what matters."""
    for name in ("pyhanko", "pyhanko_certvalidator"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def _bad_input(message: str) -> NoReturn:
    click.echo(f"tillit-signer: {message}", err=True)
    sys.exit(2)


def _validation_time(text: str | None) -> datetime | None:
    """`--at`: an ISO 8601 date (midnight UTC) or date and time (UTC unless it says otherwise)."""
    if text is None:
        return None
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        _bad_input(f"--at: '{text}' is not an ISO 8601 date or date and time (2031-06-01, 2031-06-01T12:00Z)")
        raise
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _status_today(signer: Any, certs: list[Any]) -> Any:
    """OCSP responses for the certificates the local CA issued, and its CRLs, made now in-process."""
    from tillit.signer.longterm import validation_material  # see the top of the module

    issuing = signer.ca.issuing_certificate()
    ours = {c.sha256: c for c in certs if c.issuer == issuing.subject}
    return validation_material(signer.ca, list(ours.values()), signer.current_crl(), 0)


def _trust_anchor(path: Path, data: bytes) -> x509.Certificate:
    """The root certificate in `path` (PEM or DER): the one certificate there, or of a PEM chain the
    self-signed one; exit 2 naming the problem for anything else."""
    blocks = (
        [der for kind, _, der in pem.unarmor(data, multiple=True) if kind == "CERTIFICATE"]
        if pem.detect(data)
        else [data]
    )
    certificates = []
    for der in blocks:
        try:
            certificate = x509.Certificate.load(der)
            _ = certificate.native  # parsed whole here: a broken one fails now, not in the validation
        except (ValueError, TypeError, KeyError):
            _bad_input(f"--root: {path} is not a certificate (PEM or DER)")
        certificates.append(certificate)
    if not certificates:
        _bad_input(f"--root: {path} holds no certificate")
    roots = [c for c in certificates if c.self_signed != "no"]
    if len(certificates) > 1 and len(roots) != 1:
        _bad_input(f"--root: {path} holds {len(certificates)} certificates and {len(roots)} roots: give the root alone")
    return roots[0] if len(certificates) > 1 else certificates[0]


@click.command("verify")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--content", type=click.Path(path_type=Path), default=None, help="The signed file of a detached .p7s.")
@click.option("--at", "at_text", default=None, help="Validate at this date (ISO 8601, UTC), e.g. 2031-06-01.")
@click.option(
    "--root",
    type=click.Path(path_type=Path),
    default=None,
    help="The trust anchor, PEM or DER; of a PEM chain, its self-signed root (default: this machine's CA root).",
)
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
def verify(file: Path, content: Path | None, at_text: str | None, root: Path | None, as_json: bool) -> None:
    """Validate a signed PDF or a detached CMS signature offline (ETSI EN 319 102-1, pyHanko), with
    the root as the only trust anchor, now or --at a date. Exit 0 only when every signature PASSED;
    1 when one FAILED or is INDETERMINATE; 2 for input that cannot be checked."""
    from tillit.signer.verify import FreshStatus, VerifyInputError, verify_cms, verify_pdf  # see the top

    _quiet_validation_logs()
    at = _validation_time(at_text)
    try:
        data = file.read_bytes()
        content_bytes = content.read_bytes() if content is not None else None
        root_bytes = root.read_bytes() if root is not None else None
    except OSError as e:
        _bad_input(f"{e.filename}: {e.strerror}")
        return
    if data.lstrip()[:5] != b"%PDF-" and content_bytes is None:
        _bad_input(f"{file}: not a PDF; a detached signature needs --content FILE")
    with contextlib.ExitStack() as stack:
        fresh: FreshStatus | None = None
        if root_bytes is not None:  # a root given: the signature's own material alone
            assert root is not None
            anchor = _trust_anchor(root, root_bytes)
        else:  # the local CA's root, and today's status of the certificates from it (no network)
            try:
                signer = stack.enter_context(open_signer())
                anchor = signer.ca.root_certificate()
            except (TokenNotFound, CaNotInitialised):  # no CA here: the signature's own material, and a root
                _bad_input("no trust anchor: give --root ROOT.pem, the root of the CA that issued the signature")
                return
            fresh = functools.partial(_status_today, signer)
        if at is not None and at < anchor.not_valid_before:
            _bad_input(
                f"--at {at_text}: before the trust anchor {anchor.subject.human_friendly} existed"
                f" ({anchor.not_valid_before:%Y-%m-%d}), so before any signature under it was made"
            )
        try:
            if content_bytes is None:
                verdicts = verify_pdf(data, anchor, at, fresh)
            else:
                verdicts = [verify_cms(data, content_bytes, anchor, at, fresh)]
        except VerifyInputError as e:
            _bad_input(f"{file}: {e}")
            return

    def text(found: list[dict[str, Any]]) -> str:
        lines = []
        for v in found:
            lines.append(f"{v['indication']}  {v['level']}  {v['signer']}  signed {v['signingTime'] or 'unknown'}")
            if v["indication"] != "PASSED":
                lines.append(f"  {v['subindication']}: {v['reason']}")
                made = datetime.fromisoformat(v["signingTime"]) if v["signingTime"] else None
                if at is not None and made is not None and at < made:
                    lines.append(f"  --at {at_text} is before the signature was made ({v['signingTime']})")
        return "\n".join(lines)

    print_result([v.as_dict() for v in verdicts], as_json, text)
    sys.exit(0 if all(v.passed for v in verdicts) else 1)


@click.command("archive-timestamp")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
def renew_archive_timestamps(files: tuple[Path, ...]) -> None:
    """Renew B-LTA PDFs in place: the newest document timestamp's validation data into the DSS, then
    a fresh document timestamp from Tillit's TSA (run yearly, and before the TSA certificate ends).
    Each renewed file replaces the old one whole and on the disk, keeping its permission bits
    (`tillit.durable_files`). Files that cannot be renewed or written are named on stderr and left
    as they were (exit 2)."""
    from tillit.signer.longterm import validation_material  # see the top of the module
    from tillit.signer.renewal import archive_timestamp, last_document_timestamp_signer
    from tillit.signer.verify import VerifyInputError

    _quiet_validation_logs()
    refused = False
    with open_signer() as signer:
        tsa, ca = signer.documents.tsa, signer.ca
        for file in files:
            try:
                data = file.read_bytes()
                # OCSP for the TSA certificate of the newest timestamp, and for today's if another.
                previous, current = last_document_timestamp_signer(data), tsa.certificate()
                end_entities = [previous] if previous.dump() == current.dump() else [previous, current]
                crl, reuse_for = signer.current_crl(), signer.settings.ocsp_cache_seconds
                material = validation_material(ca, end_entities, crl, reuse_for)
                renewed = archive_timestamp(data, signer.documents.timestamper, ca.root_certificate(), material)
            except OSError as e:
                click.echo(f"tillit-signer: {file}: {e.strerror}", err=True)
                refused = True
                continue
            except VerifyInputError as e:
                click.echo(f"tillit-signer: {file}: {e}", err=True)
                refused = True
                continue
            except Exception as e:  # pyHanko refuses a chain it cannot validate: name the file, go on
                click.echo(f"tillit-signer: {file}: cannot renew: {type(e).__name__}: {e}".splitlines()[0], err=True)
                refused = True
                continue
            try:
                # An archive copy of a signed agreement: a full disk or a crash must leave the old
                # PDF whole rather than a truncated one.
                replace_file_durably(file, renewed)
            except OSError as e:
                click.echo(f"tillit-signer: {file}: cannot write the renewed PDF: {e.strerror}", err=True)
                refused = True
                continue
            click.echo(f"{file}: document timestamp added")
    if refused:
        sys.exit(2)
