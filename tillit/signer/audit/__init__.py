"""The audit log: checking the hash chain, and checkpoints signed in the HSM.

Every entry carries a sequence number and the hash of the entry before it (`Tx.audit`), so an edited,
removed or reordered entry breaks a link (`verify_chain`). A chain alone has two limits: whoever can
write the database can rewrite an entry and recompute every later hash, and removing the newest
entries leaves a shorter chain that is just as intact. Checkpoints close the first and narrow the
second: every `audit_checkpoint_every` entries, at every clean shutdown of the daemon and at every
`audit export`, the head (seq, hash) is signed by the audit key in the HSM (label `tillit-audit`,
EC P-256, sensitive and never extractable, created on first use) and stored in `audit_checkpoints`.
The newest checkpoint is also anchored in the token (anchor.py says why and how).

Where things are:
- chain.py: the chain (`verify_chain`), the checkpoint message, and `verify_log`, which checks the
  whole log: chain, every checkpoint's signature, the anchor and an expected head;
- anchor.py: the anchor as the token's record holds it, and what a log that does not extend it lacks;
- checkpoints.py: `Checkpointer`, which signs checkpoints and moves the anchor;
- export.py: `audit export`'s folder, checkable with openssl.


What `verify_log` finds, and what it cannot:
- an edited, removed or reordered entry anywhere: the chain breaks;
- a rewritten history (edit and recompute every later hash): the hash of the entry a checkpoint
  or the anchor names no longer matches; a forged checkpoint needs the HSM key;
- a truncated tail that removes a checkpointed entry: the signed checkpoint, or the anchor when the
  checkpoints were deleted too, names an entry that is no longer there;
- deleted checkpoints: the anchored one missing, or fewer checkpoints up to it than the anchor
  counted (M4 above is found by its rewritten or missing anchored entry, whichever it leaves);
- a database restored from a backup older than the anchor: the same as a truncation;
- NOT detectable: entries written after the newest checkpoint removed together with nothing else
  (they were never signed or anchored; after a crash, kill -9, they are reported as not yet covered;
  whoever keeps an export's `head.txt` can pass it as `--expect SEQ:HASH`); a checkpoint stored in
  the moment before its anchor was written (a crash in between) deleted with the entries after the
  previous anchor; the checkpoints on a token that never had an anchor (made before anchors
  existed: reported, and the next checkpoint anchors the head);
- NOT protected against the HSM's user PIN: whoever can log in to the token and write the database
  can sign checkpoints and move the anchor (`tillit-hsm` holders are trusted), and whoever can
  delete the token's object files (SoftHSM keeps them in TILLIT_HOME/tokens) can delete the anchor,
  which then reads as "no anchor yet". A network HSM keeps its objects behind the PIN.

The daemon checks the database against the anchor before it signs any checkpoint (`checkpoint`:
the anchored entry still there with its hash, the chain intact from it to the head, the anchored
checkpoint and as many as the anchor counted still there), and refuses to sign when it does not
hold: a forged head is never signed nor anchored. `export_log` verifies the whole log (chain, every
signature, anchor) before it signs. One audit log per token: the audit key and the anchor belong to
the token, so two databases on one token fail each other's anchor.
"""
