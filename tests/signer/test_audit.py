"""The hash-chained audit log: verify_chain finds the first edited, removed or reordered entry.

In-process against a SqliteStore, then through `tillit-signer audit verify` on a daemon's home
(the daemon is never started: enrolling and binding a device already write the chain).
"""

from __future__ import annotations

import itertools
import shutil
import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.daemon import Daemon, make_daemon
from tests.factories import fresh_adult
from tillit.hsm.client import Hsm
from tillit.signer.audit.chain import AuditReport, verify_chain
from tillit.signer.audit.checkpoints import Checkpointer
from tillit.signer.store.audit import GENESIS, audit_hash
from tillit.signer.store.sqlite import SqliteStore

ENTRIES = 6


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "signer.db")
    for i in range(1, ENTRIES + 1):
        with s.tx() as tx:
            tx.audit(f"test.event{i}", f"subject-{i}", 1_760_000_000.0 + i / 7, n=i, text="blå fjord ✓")
    yield s
    s.close()


def report(store: SqliteStore) -> AuditReport:
    with store.tx() as tx:
        return verify_chain(tx.audit_entries())


def tamper(store: SqliteStore, *statements: str) -> None:
    db = sqlite3.connect(store.path)
    try:
        with db:
            for sql in statements:
                db.execute(sql)
    finally:
        db.close()


def test_an_untouched_chain_verifies(store: SqliteStore) -> None:
    r = report(store)
    assert r.ok and r.broken_at is None and r.reason is None
    assert r.entries == ENTRIES
    with store.tx() as tx:
        entries = tx.audit_entries()
    assert [e.seq for e in entries] == list(range(1, ENTRIES + 1))
    assert entries[0].prev_hash == GENESIS
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(entries))


def test_an_empty_chain_verifies(tmp_path: Path) -> None:
    s = SqliteStore(tmp_path / "empty.db")
    try:
        assert report(s).ok
    finally:
        s.close()


def test_a_rolled_back_transaction_leaves_no_entry(store: SqliteStore) -> None:
    with pytest.raises(RuntimeError), store.tx() as tx:
        tx.audit("test.rolled_back", "x", 1.0)
        raise RuntimeError("abort")
    assert report(store).entries == ENTRIES
    assert report(store).ok


@pytest.mark.parametrize(
    "column,value",
    [("data", '{"n":99,"text":"blå fjord ✓"}'), ("event", "test.other"), ("subject", "someone-else"), ("at", "1.5")],
)
def test_an_edited_entry_is_found(store: SqliteStore, column: str, value: str) -> None:
    tamper(store, f"UPDATE audit SET {column}='{value}' WHERE seq=3")  # noqa: S608 - test literals
    r = report(store)
    assert not r.ok
    assert r.broken_at == 3
    assert r.reason == "entry 3 was edited"


def test_an_edited_entry_with_its_own_hash_recomputed_breaks_the_next_link(store: SqliteStore) -> None:
    with store.tx() as tx:
        e = tx.audit_entries()[2]
    forged = audit_hash(e.prev_hash, e.seq, e.at, e.event, e.subject, '{"n":99}')
    tamper(store, f"UPDATE audit SET data='{{\"n\":99}}', hash='{forged}' WHERE seq=3")  # noqa: S608
    r = report(store)
    assert r.broken_at == 4
    assert r.reason == "entry 4 does not follow entry 3"


def test_a_removed_middle_entry_is_found(store: SqliteStore) -> None:
    tamper(store, "DELETE FROM audit WHERE seq=3")
    r = report(store)
    assert not r.ok
    assert r.broken_at == 4  # the first entry whose link is broken
    assert r.reason == "entry 3 is missing (found 4)"


def test_a_removed_first_entry_is_found(store: SqliteStore) -> None:
    tamper(store, "DELETE FROM audit WHERE seq=1")
    r = report(store)
    assert r.broken_at == 2
    assert "entry 1 is missing" in (r.reason or "")


def test_a_removed_and_renumbered_entry_is_found(store: SqliteStore) -> None:
    """Deleting entry 3 and shifting the later ones down keeps seq contiguous; the link breaks."""
    tamper(
        store,
        "DELETE FROM audit WHERE seq=3",
        *[f"UPDATE audit SET seq={n - 1} WHERE seq={n}" for n in range(4, ENTRIES + 1)],  # noqa: S608
    )
    r = report(store)
    assert r.broken_at == 3
    assert r.reason == "entry 3 does not follow entry 2"


def test_two_swapped_entries_are_found(store: SqliteStore) -> None:
    tamper(
        store,
        "UPDATE audit SET seq=-1 WHERE seq=3",
        "UPDATE audit SET seq=3 WHERE seq=4",
        "UPDATE audit SET seq=4 WHERE seq=-1",
    )
    r = report(store)
    assert not r.ok
    assert r.broken_at == 3
    assert r.reason == "entry 3 does not follow entry 2"


def test_swapping_only_the_contents_of_two_entries_is_found(store: SqliteStore) -> None:
    tamper(
        store,
        "CREATE TEMP TABLE t AS SELECT * FROM audit WHERE seq IN (2, 5)",
        "UPDATE audit SET at=(SELECT at FROM t WHERE seq=5), event=(SELECT event FROM t WHERE seq=5),"
        " subject=(SELECT subject FROM t WHERE seq=5), data=(SELECT data FROM t WHERE seq=5) WHERE seq=2",
        "UPDATE audit SET at=(SELECT at FROM t WHERE seq=2), event=(SELECT event FROM t WHERE seq=2),"
        " subject=(SELECT subject FROM t WHERE seq=2), data=(SELECT data FROM t WHERE seq=2) WHERE seq=5",
    )
    r = report(store)
    assert r.broken_at == 2
    assert r.reason == "entry 2 was edited"


def test_appending_after_verification_keeps_the_chain(store: SqliteStore) -> None:
    with store.tx() as tx:
        tx.audit("test.more", "x", 2_000_000_000.0, deep={"a": [1, 2, {"b": None}]})
    r = report(store)
    assert r.ok and r.entries == ENTRIES + 1


def _rewrite_from(store: SqliteStore, seq: int) -> None:
    """Edit entry `seq` and recompute every later hash, as someone with write access could."""
    with store.tx() as tx:
        entries = tx.audit_entries()
    prev = entries[seq - 2].hash if seq > 1 else GENESIS
    statements = []
    for e in entries[seq - 1 :]:
        data = '{"n":99}' if e.seq == seq else e.data
        digest = audit_hash(prev, e.seq, e.at, e.event, e.subject, data)
        statements.append(
            f"UPDATE audit SET data='{data}', prev_hash='{prev}', hash='{digest}' WHERE seq={e.seq}"  # noqa: S608
        )
        prev = digest
    tamper(store, *statements)


def test_the_chain_alone_cannot_see_a_rewritten_or_truncated_tail(store: SqliteStore) -> None:
    """The documented limits of verify_chain; the signed checkpoints below close them."""
    _rewrite_from(store, 3)
    assert report(store).ok
    tamper(store, f"DELETE FROM audit WHERE seq={ENTRIES}")  # noqa: S608
    assert report(store).ok


@pytest.fixture
def checkpointer(store: SqliteStore, hsm: Hsm) -> Checkpointer:
    """Checkpoints signed by the audit key on the session's SoftHSM token (only when asked), anchored
    in a record of this test's own: the session's token is shared by every test's log."""
    return Checkpointer(store, hsm, every=0, clock=time.time, anchor_label=f"test-anchor-{uuid.uuid4().hex}")


@pytest.mark.hsm
def test_a_signed_checkpoint_verifies(checkpointer: Checkpointer) -> None:
    cp = checkpointer.checkpoint("test")
    assert cp is not None and cp.seq == ENTRIES
    r = checkpointer.verify()
    assert r.ok and r.checkpoints == 1 and r.covered_to == ENTRIES and r.uncovered == 0


@pytest.mark.hsm
def test_a_rewritten_history_breaks_its_signed_checkpoint(store: SqliteStore, checkpointer: Checkpointer) -> None:
    checkpointer.checkpoint("test")
    _rewrite_from(store, 3)
    r = checkpointer.verify()
    assert not r.ok
    assert r.broken_at == ENTRIES
    assert "rewritten" in (r.reason or "")


@pytest.mark.hsm
def test_a_truncated_tail_past_a_checkpoint_is_found(store: SqliteStore, checkpointer: Checkpointer) -> None:
    checkpointer.checkpoint("test")
    tamper(store, f"DELETE FROM audit WHERE seq={ENTRIES}")  # noqa: S608
    r = checkpointer.verify()
    assert not r.ok
    assert r.broken_at == ENTRIES
    assert "truncated" in (r.reason or "")


@pytest.mark.hsm
def test_a_forged_checkpoint_is_found(store: SqliteStore, checkpointer: Checkpointer) -> None:
    checkpointer.checkpoint("test")
    _rewrite_from(store, 3)
    with store.tx() as tx:
        head = tx.audit_entries()[-1]
    tamper(store, f"UPDATE audit_checkpoints SET hash='{head.hash}' WHERE seq={ENTRIES}")  # noqa: S608
    r = checkpointer.verify()
    assert not r.ok and r.broken_at == ENTRIES
    assert "signature" in (r.reason or "")


@pytest.mark.hsm
def test_a_truncated_tail_after_the_last_checkpoint_is_found_with_an_expected_head(
    store: SqliteStore, checkpointer: Checkpointer
) -> None:
    with store.tx() as tx:
        head = tx.audit_entries()[-1]
    tamper(store, f"DELETE FROM audit WHERE seq={ENTRIES}")  # noqa: S608
    assert checkpointer.verify().ok  # nothing signed covered it
    r = checkpointer.verify(expected=(head.seq, head.hash))
    assert not r.ok and r.broken_at == ENTRIES
    assert "tail" in (r.reason or "")


# -- tillit-signer audit verify ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def home_with_chain(tmp_path_factory: pytest.TempPathFactory) -> tuple[Daemon, bytes]:
    """A daemon home (never started) with a few entries, and a pristine copy of its database."""
    d = make_daemon(tmp_path_factory.mktemp("audit") / "home")
    number = fresh_adult()
    d.enrol(number)
    d.add_device(number).close()
    d.run("tillit-signer", "kiosks", "add", "--name", "Voss")
    db = sqlite3.connect(d.home / "signer.db")
    try:
        pristine = b"".join(line.encode() + b"\n" for line in db.iterdump())
        count = db.execute("SELECT COUNT(*) FROM audit").fetchone()[0]
    finally:
        db.close()
    assert count >= 4
    shutil.copytree(d.home / "tokens", _pristine_tokens(d))
    return d, pristine


def _pristine_tokens(d: Daemon) -> Path:
    return d.home.parent / "tokens-pristine"


def _restore(d: Daemon, dump: bytes) -> None:
    """Back to the pristine database and token together: the token holds the audit anchor, and a
    database restored alone (older than the anchor) no longer verifies (tests/proofs/test_audit_anchor.py)."""
    shutil.rmtree(d.home / "tokens")
    shutil.copytree(_pristine_tokens(d), d.home / "tokens")
    path = d.home / "signer.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    db = sqlite3.connect(path)
    try:
        db.executescript(dump.decode())
        db.execute("PRAGMA journal_mode=WAL")
    finally:
        db.close()


@pytest.mark.integration
@pytest.mark.parametrize(
    "statements,message",
    [
        ([], None),
        (["UPDATE audit SET data='{}' WHERE seq=2"], "tillit-signer: audit log broken at entry 2: entry 2 was edited"),
        (["DELETE FROM audit WHERE seq=2"], "tillit-signer: audit log broken at entry 3: entry 2 is missing (found 3)"),
        (
            [
                "UPDATE audit SET seq=-1 WHERE seq=2",
                "UPDATE audit SET seq=2 WHERE seq=3",
                "UPDATE audit SET seq=3 WHERE seq=-1",
            ],
            "tillit-signer: audit log broken at entry 2: entry 2 does not follow entry 1",
        ),
    ],
    ids=["untouched", "edited", "removed", "reordered"],
)
def test_the_cli_reports_the_first_broken_entry(
    home_with_chain: tuple[Daemon, bytes], statements: list[str], message: str | None
) -> None:
    d, pristine = home_with_chain
    _restore(d, pristine)
    db = sqlite3.connect(d.home / "signer.db")
    try:
        with db:
            for sql in statements:
                db.execute(sql)
    finally:
        db.close()
    result = d.run("tillit-signer", "audit", "verify", check=False)
    assert "Traceback" not in result.stderr
    if message is None:
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("audit log intact:")
    else:
        assert result.returncode == 1, result.stdout
        assert result.stderr.strip() == message


@pytest.mark.integration
@pytest.mark.parametrize("how", ["truncated", "rewritten"])
def test_the_cli_finds_a_truncated_or_rewritten_tail_after_an_export(
    home_with_chain: tuple[Daemon, bytes], tmp_path: Path, how: str
) -> None:
    """`audit export` signs a checkpoint at the head; cutting or rewriting what it covers is found."""
    d, pristine = home_with_chain
    _restore(d, pristine)
    d.run("tillit-signer", "audit", "export", "--out", str(tmp_path / "export"))
    head_seq = int((tmp_path / "export" / "head.txt").read_text().split(":")[0])
    assert d.run("tillit-signer", "audit", "verify").returncode == 0
    store = SqliteStore(d.home / "signer.db")
    try:
        if how == "truncated":
            tamper(store, f"DELETE FROM audit WHERE seq={head_seq}")  # noqa: S608
        else:
            _rewrite_from(store, 2)
        assert report(store).ok  # the chain alone does not see it
    finally:
        store.close()
    result = d.run("tillit-signer", "audit", "verify", check=False)
    assert "Traceback" not in result.stderr
    assert result.returncode == 1, result.stdout
    assert result.stderr.startswith(f"tillit-signer: audit log broken at entry {head_seq}: ")
    assert how in result.stderr
    assert result.stderr.count("\n") == 1
