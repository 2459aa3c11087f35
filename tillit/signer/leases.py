"""Which instance runs an order's password check or signing, and until when (its lease).

Several instances share one database (docs/operations.md, "Running several instances"). An order
moving into `verifying` or `signing` records the instance that moved it (`Order.runner`, this
instance's id) and `lease_seconds` from then (`Order.lease_until`), longer than any check or signing
takes. At start an instance resumes or undoes only the orders whose runner is itself (it died while
running them) or whose lease ran out (their runner died); while it serves, each maintenance sweep
takes over the expired leases of others. An order whose runner is alive is never touched, so a
restart does not run another instance's signing a second time.

A runner renews its leases while it works (`LeaseKeeper`): a check or signing that waits on a
stalled HSM longer than `lease_seconds` keeps its order, and only one whose runner stopped (died,
or was frozen) runs out.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tillit.hsm.settings import private_dir
from tillit.signer.settings import INSTANCE_FILE
from tillit.signer.store.base import Store

log = logging.getLogger("tillit.leases")


def instance_id(configured: str | None, home: Path) -> str:
    """This instance's id: `configured` (the `instance_id` setting) when set, else the one in
    `home`/instance-id, made there once (this host's name and random hex) on first use."""
    if configured:
        return configured
    path = home / INSTANCE_FILE
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        pass
    private_dir(home)
    host = re.sub(r"[^A-Za-z0-9-]", "", socket.gethostname().split(".")[0])[:40] or "tillit"
    made = f"{host}-{secrets.token_hex(6)}"
    # Written whole under another name, then linked into place: two processes starting at once
    # agree on the first one linked, and neither reads a half-written file.
    draft = home / f".{INSTANCE_FILE}.{secrets.token_hex(4)}"
    with os.fdopen(os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w", encoding="utf-8") as f:
        f.write(made + "\n")  # this user's alone, like everything under TILLIT_HOME
    try:
        os.link(draft, path)
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip()
    finally:
        draft.unlink()
    return made


@dataclass
class _Run:
    """An order this instance runs, as `LeaseKeeper` follows it."""

    since: float
    renewed: float  # when its lease was last set (taken or renewed)
    holders: int = 0  # `holding` blocks around it (a resumed signing inside a check, say)
    lost: bool = False  # moved on or taken over: not renewed any more


class LeaseKeeper:
    """Renews the leases of the orders this instance is running, for as long as it runs them.

    A password check or signing is registered with `holding` for its whole run. One thread per
    instance (started with the first order) wakes every sixth of the lease and renews, to
    `lease_seconds` from then, each registered order not renewed for a third of it: while its runner
    lives, at least half of a lease is always left. A run that ends in milliseconds, as nearly all
    do, is never written to. Renewals stop when the process stops or freezes, and the lease then
    runs out as before; a renewal that finds the order moved on or taken over (`Tx.renew_lease` is
    False) stops renewing it.
    """

    def __init__(self, store: Store, clock: Callable[[], float], instance: str, lease_seconds: float) -> None:
        self._store = store
        self._clock = clock
        self._instance = instance
        self._lease_seconds = lease_seconds
        self._lock = threading.Lock()
        self._runs: dict[str, _Run] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @contextmanager
    def holding(self, ref: str) -> Iterator[None]:
        """Keep `ref`'s lease renewed (if this instance holds it) until the block ends."""
        with self._lock:
            at = self._clock()
            run = self._runs.setdefault(ref, _Run(since=at, renewed=at))
            run.holders += 1
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(target=self._run, name="tillit-lease-keeper", daemon=True)
                self._thread.start()
        try:
            yield
        finally:
            with self._lock:
                run.holders -= 1
                if run.holders == 0:
                    self._runs.pop(ref, None)

    def renew_due(self) -> list[str]:
        """Renew the registered leases due for it now; the orders renewed."""
        at = self._clock()
        with self._lock:
            every = self._lease_seconds / 3
            due = [(ref, run) for ref, run in self._runs.items() if not run.lost and at - run.renewed >= every]
        renewed = []
        for ref, run in due:
            try:
                with self._store.tx() as tx:
                    kept = tx.renew_lease(ref, self._instance, at + self._lease_seconds)
            except Exception as e:  # the database away: try again at the next wake-up
                log.warning("could not renew the lease on order %s: %s", ref, e)
                continue
            with self._lock:
                run.renewed = at
                run.lost = not kept  # moved on or taken over: the run ends by itself
            if kept:
                # A check or signing seldom runs this long: the HSM (or Argon2id's queue) is slow.
                log.warning("order %s still running after %.0f s: its lease renewed", ref, at - run.since)
                renewed.append(ref)
        return renewed

    def _run(self) -> None:
        while not self._stop.wait(self._lease_seconds / 6):
            self.renew_due()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
