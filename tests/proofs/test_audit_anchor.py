# ruff: noqa: S608 - tampering SQL built from integers and hashes this test reads itself
"""Security finding M4: an attacker who can write the database, but has no HSM PIN, rewrites the
audit log's history (entries removed from the middle, the chain recomputed, the checkpoints after
the edit deleted), cuts its tail with the checkpoints in it, or deletes every checkpoint. Before the
anchor, `tillit-signer audit verify` passed all of these and `audit export` had the HSM sign the
forged head. Now the newest checkpoint is anchored in the token (signer/audit/): verify fails
with one line naming the problem, export refuses and signs nothing, and a running daemon refuses
to sign a checkpoint of a forged log.

Each case starts from the same daemon state, database and token restored together (a reset of the
test, not part of the attack); the attacker then works on TILLIT_HOME/signer.db with sqlite3 alone.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.daemon import PASSWORD, Daemon, make_daemon
from tests.proofs.common import enrol_many, figures, query
from tillit.phone.client import PhoneClient
from tillit.signer.store.audit import audit_hash

pytestmark = pytest.mark.integration

EVERY = 10
REMOVED = 73  # as many as the review removed


def _login(d: Daemon, number: str, phone: PhoneClient) -> None:
    with d.kiosk() as k:
        ref = k.post("/v1/auth", json={"personalNumber": number}).json()["orderRef"]
        phone.decide(next(r for r in phone.requests(wait=5).requests if r.order_ref == ref), "approve")
        assert k.post("/v1/password", json={"orderRef": ref, "password": PASSWORD}).status_code == 200


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Daemon, list[tuple[str, PhoneClient]], Path]]:
    """A daemon that wrote well over a hundred entries (a checkpoint every ten), stopped cleanly,
    and a copy of its database and token to start every case from."""
    root = tmp_path_factory.mktemp("anchor")
    # By count only: the proofs below count the checkpoints the daemon signs.
    d = make_daemon(root / "home", TILLIT_AUDIT_CHECKPOINT_EVERY=str(EVERY), TILLIT_AUDIT_CHECKPOINT_SECONDS="0")
    people = enrol_many(d, 12)
    d.start()
    while query(d, "SELECT COUNT(*) FROM audit")[0][0] < 2 * REMOVED + 3 * EVERY:
        for number, phone in people:
            _login(d, number, phone)
    d.stop()
    snapshot = root / "snapshot"
    snapshot.mkdir()
    _backup(d.home / "signer.db", snapshot / "signer.db")  # with what is still in the WAL
    shutil.copytree(d.home / "tokens", snapshot / "tokens")
    yield d, people, snapshot
    for _, phone in people:
        phone.close()


def _backup(source: Path, target: Path) -> None:
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()


@pytest.fixture
def d(base: tuple[Daemon, list[tuple[str, PhoneClient]], Path]) -> Iterator[Daemon]:
    daemon, _, snapshot = base
    for suffix in ("", "-wal", "-shm"):
        Path(f"{daemon.home / 'signer.db'}{suffix}").unlink(missing_ok=True)
    _backup(snapshot / "signer.db", daemon.home / "signer.db")
    shutil.rmtree(daemon.home / "tokens")
    shutil.copytree(snapshot / "tokens", daemon.home / "tokens")
    yield daemon
    daemon.stop()


# -- the attacker: sqlite3 on the database file, and the hash scheme from the export's README -------


def _attack(d: Daemon, *statements: str) -> None:
    db = sqlite3.connect(d.home / "signer.db", timeout=30)
    try:
        with db:
            for sql in statements:
                db.execute(sql)
    finally:
        db.close()


def _entries(d: Daemon) -> list[tuple[int, float, str, str, str, str, str]]:
    return query(d, "SELECT seq, at, event, subject, data, prev_hash, hash FROM audit ORDER BY seq")


def _checkpoints(d: Daemon) -> list[int]:
    return [r[0] for r in query(d, "SELECT seq FROM audit_checkpoints ORDER BY seq")]


def m4_statements(d: Daemon) -> list[str]:
    """Remove REMOVED entries from the middle, after a checkpoint that stays; renumber and rechain
    every later entry; delete the checkpoints after the edit (they would no longer match)."""
    entries = _entries(d)
    kept = next(cp for cp in _checkpoints(d) if cp >= EVERY)  # the checkpoint before the edit stays
    cut_from = kept + 2  # entries cut_from .. cut_from+REMOVED-1 go
    statements = [f"DELETE FROM audit WHERE seq>={cut_from} AND seq<{cut_from + REMOVED}"]
    prev = entries[cut_from - 2][6]
    for seq, at, event, subject, data, _, _ in entries[cut_from - 1 + REMOVED :]:
        new_seq = seq - REMOVED
        digest = audit_hash(prev, new_seq, at, event, subject, data)
        statements.append(f"UPDATE audit SET seq={new_seq}, prev_hash='{prev}', hash='{digest}' WHERE seq={seq}")
        prev = digest
    statements.append(f"DELETE FROM audit_checkpoints WHERE seq>={cut_from}")
    return statements


def rewrite_statements(d: Daemon) -> list[str]:
    """The same without removing anything: one entry after a kept checkpoint edited, every later
    entry rechained, the checkpoints after the edit deleted."""
    entries = _entries(d)
    edited = next(cp for cp in _checkpoints(d) if cp >= EVERY) + 2
    prev = entries[edited - 2][6]
    statements = []
    for seq, at, event, subject, data, _, _ in entries[edited - 1 :]:
        body = '{"forged":true}' if seq == edited else data
        digest = audit_hash(prev, seq, at, event, subject, body)
        statements.append(f"UPDATE audit SET data='{body}', prev_hash='{prev}', hash='{digest}' WHERE seq={seq}")
        prev = digest
    statements.append(f"DELETE FROM audit_checkpoints WHERE seq>={edited}")
    return statements


def truncate_statements(d: Daemon) -> list[str]:
    """Cut the newest entries off, back past two checkpoints, and those checkpoints with them."""
    back_to = _checkpoints(d)[-3]
    return [f"DELETE FROM audit WHERE seq>{back_to}", f"DELETE FROM audit_checkpoints WHERE seq>{back_to}"]


def delete_checkpoints_statements(d: Daemon) -> list[str]:
    return ["DELETE FROM audit_checkpoints"]


def delete_one_old_checkpoint_statements(d: Daemon) -> list[str]:
    """One signed checkpoint before the anchored one deleted; the anchored one and the log stay."""
    return [f"DELETE FROM audit_checkpoints WHERE seq={_checkpoints(d)[1]}"]


CASES: dict[str, Callable[[Daemon], list[str]]] = {
    "m4-rewritten-middle": m4_statements,
    "m4-edited-middle": rewrite_statements,
    "truncated-with-checkpoints": truncate_statements,
    "all-checkpoints-deleted": delete_checkpoints_statements,
    "an-older-checkpoint-deleted": delete_one_old_checkpoint_statements,
}


def _cli(d: Daemon, *args: str) -> tuple[int, str, str]:
    result = d.run("tillit-signer", *args, check=False)
    return result.returncode, result.stdout.strip(), result.stderr.strip()


def _assert_refused(d: Daemon, tmp_path: Path, *names: str) -> None:
    """verify fails with one line naming the problem (one of `names`); export refuses, signs nothing."""
    checkpoints = _checkpoints(d)
    code, out, err = _cli(d, "audit", "verify")
    assert code == 1, out
    assert "Traceback" not in err and err.count("\n") == 0, err
    assert err.startswith("tillit-signer: audit log broken at entry ") and any(n in err for n in names), err
    code, out, err = _cli(d, "audit", "export", "--out", str(tmp_path / "export"))
    assert code == 1, out
    assert "Traceback" not in err and err.count("\n") == 0, err
    assert err.startswith("tillit-signer: audit export refused, nothing signed: audit log broken at entry "), err
    assert not (tmp_path / "export").exists()
    assert _checkpoints(d) == checkpoints  # the forged head was not signed


@pytest.mark.parametrize("case", list(CASES))
def test_a_database_only_attack_fails_verify_and_export(d: Daemon, tmp_path: Path, case: str) -> None:
    before = len(_entries(d))
    statements = CASES[case](d)
    _attack(d, *statements)
    expected = {
        # the anchored entry is gone (the log is shorter now); with more entries since: a different one
        "m4-rewritten-middle": "the HSM anchors a checkpoint at entry",
        "m4-edited-middle": "differs from the checkpoint anchored in the HSM: the log up to it was rewritten",
        "truncated-with-checkpoints": "the HSM anchors a checkpoint at entry",
        "all-checkpoints-deleted": "anchored in the HSM is missing: checkpoints were deleted",
        "an-older-checkpoint-deleted": "signed checkpoints up to entry",
    }[case]
    _assert_refused(d, tmp_path, expected)
    figures("audit anchor", **{f"{case}_entries": f"{before} -> {len(_entries(d))}"})


def test_m4_on_a_running_daemon_it_refuses_to_sign_the_forged_log(
    d: Daemon, base: tuple[Daemon, list[tuple[str, PhoneClient]], Path], tmp_path: Path
) -> None:
    """The attacker leaves the daemon running: its next periodic checkpoint, and the one at its
    clean stop, find the log no longer extends the anchor and sign nothing."""
    _, people, _ = base
    d.start()
    _attack(d, *m4_statements(d))
    checkpoints = _checkpoints(d)
    head_before = _entries(d)[-1][0]
    while _entries(d)[-1][0] < head_before + 2 * EVERY:  # two periodic checkpoints due
        for number, phone in people[:3]:
            _login(d, number, phone)
    d.stop()
    assert _checkpoints(d) == checkpoints, "the daemon signed a checkpoint of the forged log"
    log = d.log.read_text(errors="replace")
    assert "audit checkpoint refused, nothing signed" in log
    _assert_refused(d, tmp_path, "the HSM anchors a checkpoint at entry", "differs from the checkpoint anchored")


def test_a_clean_log_verifies_and_exports_anchored(d: Daemon, tmp_path: Path) -> None:
    last = _entries(d)[-1][0]
    checkpoints = _checkpoints(d)
    assert checkpoints[-1] == last  # the clean stop signed and anchored the head
    code, out, err = _cli(d, "audit", "verify")
    assert code == 0, err
    assert out == (
        f"audit log intact: {last} entries, {len(checkpoints)} signed checkpoints (the newest at entry {last}),"
        f" anchored in the HSM at entry {last}"
    )
    code, out, err = _cli(d, "audit", "export", "--out", str(tmp_path / "export"))
    assert code == 0, err
    assert (tmp_path / "export" / "head.txt").read_text().startswith(f"{last}:")


def _worker(d: Daemon, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.proofs.anchor_worker", *args],
        env={**d.env, "PYTHONPATH": str(Path(__file__).parents[2])},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_processes_checkpointing_one_token_never_move_the_anchor_back(d: Daemon) -> None:
    """Two processes on the daemon's database and token append and checkpoint as fast as they can
    (a checkpoint every third entry each), while a third reads the anchor over and over."""
    watcher = _worker(d, "watch", "8")
    assert watcher.stdout is not None and watcher.stdout.readline().strip() == "watching"
    writers = [_worker(d, "append", "150") for _ in range(2)]
    for w in writers:
        out, err = w.communicate(timeout=120)
        assert w.returncode == 0, err
        assert json.loads(out)["failures"] == 0, out
    out, err = watcher.communicate(timeout=60)
    assert watcher.returncode == 0, err
    seen = json.loads(out)
    assert seen == sorted(seen), seen  # never backwards
    assert len(seen) > 10, seen  # it did move, many times, while watched
    checkpoints = _checkpoints(d)
    code, out, err = _cli(d, "audit", "verify")
    assert code == 0, err
    assert f"anchored in the HSM at entry {checkpoints[-1]}" in out, out
    figures("audit anchor", race_anchor_moves_seen=len(seen), race_checkpoints=len(checkpoints))
