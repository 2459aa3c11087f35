"""`audit export`: the log, its signed checkpoints and the audit key's public half in a folder,
with a README telling anyone how to check them with openssl and a few lines of Python."""

from __future__ import annotations

import contextlib
import json
import tempfile
from pathlib import Path
from typing import Any

from tillit.signer.audit.chain import AuditBroken, checkpoint_message
from tillit.signer.audit.checkpoints import Checkpointer


def export_log(audit_log: Checkpointer, out: Path) -> dict[str, Any]:
    """Verify the whole log (raising `AuditBroken`, with nothing signed or written, when it does
    not hold), sign and anchor a checkpoint at the head, then write the log, the checkpoints and
    their signatures, the public key and a README to `out`."""
    report = audit_log.verify()
    if not report.ok:
        raise AuditBroken(report)
    _writable(out)  # a folder that cannot take the export stops it before anything is signed
    audit_log.checkpoint("export")
    with audit_log.store.tx() as tx:
        entries = tx.audit_entries()
        checkpoints = tx.audit_checkpoints()
    with open(out / "entries.jsonl", "w", encoding="utf-8") as f:
        for e in entries:
            row = {
                "seq": e.seq,
                "at": e.at,
                "atRepr": repr(e.at),
                "event": e.event,
                "subject": e.subject,
                "data": e.data,
                "prevHash": e.prev_hash,
                "hash": e.hash,
            }
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    names = []
    for cp in checkpoints:
        (out / f"cp-{cp.seq}.txt").write_bytes(checkpoint_message(cp.seq, cp.hash, cp.at, cp.reason))
        (out / f"cp-{cp.seq}.sig").write_bytes(bytes.fromhex(cp.signature))
        names.append(cp.seq)
    (out / "audit.pem").write_bytes(audit_log.public_pem())
    head = f"{entries[-1].seq}:{entries[-1].hash}\n" if entries else "0\n"
    (out / "head.txt").write_text(head)
    (out / "README.txt").write_text(_README.format(last=names[-1] if names else "N"), encoding="utf-8")
    return {"entries": len(entries), "checkpoints": names, "head": head.strip()}


def _writable(out: Path) -> None:
    """Make the folder `out` (with its parents) and write a file in it, or raise the OSError that
    stops it, with the folders made here removed again."""
    made = [p for p in (out, *out.parents) if not p.exists()]
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError:
        for folder in made:  # the deepest first
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise


_README = """Tillit audit log export
=======================

entries.jsonl   every audit entry, oldest first, one JSON object a line
cp-SEQ.txt      a checkpoint: the exact bytes the audit key signed (entry SEQ and its hash)
cp-SEQ.sig      its signature: ECDSA P-256 over SHA-256, DER
audit.pem       the audit key's public key (the private key never leaves the HSM)
head.txt        SEQ:HASH of the newest entry at export time; keep it somewhere else, and later
                run `tillit-signer audit verify --expect SEQ:HASH` to prove nothing was cut off

1. Check each checkpoint with openssl (prints "Verified OK"):

    for sig in cp-*.sig; do
        openssl dgst -sha256 -verify audit.pem -signature "$sig" "${{sig%.sig}}.txt"
    done

   or one of them, the newest:

    openssl dgst -sha256 -verify audit.pem -signature cp-{last}.sig cp-{last}.txt

   Compare audit.pem's fingerprint with the one the bank publishes:
    openssl pkey -pubin -in audit.pem -outform DER | openssl dgst -sha256

2. Check that the entries chain up to the checkpoints. Entry n's hash is

    sha256( prevHash + "\\n" + JSON([seq, atRepr, event, subject, data]) )

   with JSON as compact UTF-8 (separators "," and ":", keys sorted, non-ASCII not escaped), the first
   prevHash 64 zeros and every other the previous entry's hash. In Python:

    import hashlib, json
    prev = "0" * 64
    for line in open("entries.jsonl", encoding="utf-8"):
        e = json.loads(line)
        body = json.dumps([e["seq"], e["atRepr"], e["event"], e["subject"], e["data"]],
                          sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        assert e["prevHash"] == prev and hashlib.sha256(prev.encode() + b"\\n" + body).hexdigest() == e["hash"]
        prev = e["hash"]

   Then the hash in each cp-SEQ.txt must be the hash of entry SEQ in entries.jsonl.

What this proves: no entry up to the newest checkpoint was edited, removed or reordered since it
was signed. Entries after the newest checkpoint are not signed yet; an export always signs one at
its head, so an export is complete when checked right after it was made.
"""
