"""A process of its own on a daemon's database and token (TILLIT_HOME), for
tests/proofs/test_audit_anchor.py: `append N` appends N audit entries, one transaction each, and
signs and anchors a checkpoint after every third, as a second daemon on the same token would;
`watch SECONDS` reads the token's anchor once, prints `watching`, then reads it over and over and
prints every seq it saw, as JSON."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from tillit.hsm.client import Hsm
from tillit.hsm.settings import HsmSettings
from tillit.signer.audit.anchor import ANCHOR_LABEL
from tillit.signer.audit.checkpoints import Checkpointer
from tillit.signer.store.sqlite import SqliteStore


def append(count: int) -> None:
    settings = HsmSettings()
    store = SqliteStore(Path(settings.home) / "signer.db")
    with Hsm(settings) as hsm:
        checkpointer = Checkpointer(store, hsm, every=3, clock=time.time)
        store.on_audit = checkpointer.maybe
        for i in range(count):
            with store.tx() as tx:
                tx.audit("test.anchor_race", f"worker-{i}", time.time(), i=i)
        checkpointer.checkpoint("shutdown")  # as the daemon's clean stop: waits for its anchor writes
        print(json.dumps({"failures": checkpointer.failures}))
    store.close()


def watch(seconds: float) -> None:
    seen: list[int] = []
    with Hsm(HsmSettings()) as hsm:
        first = hsm.read_record(ANCHOR_LABEL)
        seen.extend([first.counter] if first is not None else [])
        print("watching", flush=True)  # the writers start now, not while this process connects
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            record = hsm.read_record(ANCHOR_LABEL)
            if record is not None and (not seen or seen[-1] != record.counter):
                seen.append(record.counter)
            time.sleep(0.002)
    print(json.dumps(seen))


if __name__ == "__main__":
    if sys.argv[1] == "append":
        append(int(sys.argv[2]))
    else:
        watch(float(sys.argv[2]))
