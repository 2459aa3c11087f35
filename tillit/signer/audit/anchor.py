"""Why a checkpoint is anchored in the HSM, and the anchor as the token holds it.

Signed checkpoints live in the database, so whoever can write it can also delete them: remove
entries after some checkpoint, recompute the chain from there and delete the checkpoints after the
edit, and every remaining checkpoint still matches (security review finding M4). So the newest
checkpoint is also anchored outside the database, in the token: after every checkpoint is stored,
`Checkpointer` advances the HSM record `tillit-audit-anchor` (hsm/records.py: a private token data
object, made and read only with the user PIN) to {seq, hash, checkpoints: how many signed
checkpoints the log held up to seq, at}. The record's counter is the anchored seq, so it only ever
moves forward, also when several daemons share the token and the database: a daemon that anchors
an older checkpoint than the token holds writes nothing. The anchor is written after the
checkpoint's transaction commits, so the database is never behind the token: a crash in between
leaves one checkpoint not yet anchored, which the next checkpoint anchors.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from tillit.signer.wire import canonical_json

ANCHOR_LABEL = "tillit-audit-anchor"


@dataclass(frozen=True)
class Anchor:
    """The newest checkpoint as anchored in the HSM (the record `tillit-audit-anchor`)."""

    seq: int
    hash: str
    checkpoints: int
    """Signed checkpoints in the log up to and including `seq` when it was anchored."""
    at: int

    def payload(self) -> bytes:
        fields = {"v": 1, "seq": self.seq, "hash": self.hash, "checkpoints": self.checkpoints, "at": self.at}
        return canonical_json(fields)

    @classmethod
    def from_payload(cls, counter: int, payload: bytes) -> Anchor:
        data = json.loads(payload)
        anchor = cls(int(data["seq"]), str(data["hash"]), int(data["checkpoints"]), int(data["at"]))
        if data.get("v") != 1 or anchor.seq != counter:
            raise ValueError("unknown anchor format")
        return anchor


def anchor_problem(
    anchor: Anchor, last: int, entry_hash: str | None, anchored_checkpoint: bool, checkpoints_to_anchor: int
) -> str | None:
    """Why the log does not extend the anchor, or None. `entry_hash`: the hash of entry `anchor.seq`
    in the log (None: no such entry); `checkpoints_to_anchor`: signed checkpoints up to it."""
    if entry_hash is None:
        return (
            f"the log ends at entry {last} but the HSM anchors a checkpoint at entry {anchor.seq}: "
            f"entries were removed or the log cut short (truncated, or restored from an older copy)"
        )
    if entry_hash != anchor.hash:
        return f"entry {anchor.seq} differs from the checkpoint anchored in the HSM: the log up to it was rewritten"
    if not anchored_checkpoint:
        return f"the checkpoint at entry {anchor.seq} anchored in the HSM is missing: checkpoints were deleted"
    if checkpoints_to_anchor < anchor.checkpoints:
        return (
            f"the log holds {checkpoints_to_anchor} signed checkpoints up to entry {anchor.seq} but the HSM anchor "
            f"counted {anchor.checkpoints}: checkpoints were deleted"
        )
    return None
