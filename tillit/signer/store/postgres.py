"""The PostgreSQL store: several signer instances sharing one database (`TILLIT_DATABASE_URL=postgresql://...`).

Same `Tx` vocabulary and the same migrations as the SQLite default (`store.migrations.MIGRATIONS`,
turned into PostgreSQL's types by `postgres_ddl`), over a psycopg 3 connection pool.

Concurrency: READ COMMITTED with row locks where a transaction writes back what it read, not
SERIALIZABLE. A serialisable transaction that loses a conflict is aborted and must be run again from
the start, but `Store.tx()` wraps caller code (which has already talked to the HSM, hashed passwords,
answered nothing yet...) that cannot be replayed from here; every ordinary race (two kiosks, a phone
and a kiosk on one order, two instances checking two passwords of one customer) would surface as an
error. Instead each invariant has its own mechanism, each exact at READ COMMITTED:

- order state changes: `Tx.transition` is a conditional UPDATE; a concurrent second one waits for the
  row and re-checks its WHERE against the committed row, so exactly one wins (no FOR UPDATE needed);
- wrong-password counts: `Tx.add_failure` increments in place under the row lock;
- replayed phone requests: `Tx.use_device_nonce` inserts with ON CONFLICT DO NOTHING;
- code devices and activations, read then written back: `SELECT ... FOR UPDATE` (`Tx(for_update=)`);
- one active device per customer: `Tx.deactivate_devices` locks the customer row first;
- the audit hash chain: appends are deferred to commit and serialised by an advisory lock (`PgTx`).

Cross-instance push: `connect_notifier` attaches `publish` (`SELECT pg_notify('tillit_push', device)`)
to the process's `Notifier` and starts one listener thread (`LISTEN tillit_push`) that wakes the local
long-polls the moment a notification arrives; there is no polling on that path.

Round trips, each about 0.1 ms of CPU between psycopg and the server (docs/performance.md): `read()`
runs its SELECTs without BEGIN and COMMIT (autocommit; the same rows at READ COMMITTED), `tx()`
sends BEGIN, its statements and COMMIT, and the pool does not test a connection on checkout (the
first statement does, `_checked_out`). psycopg prepares a statement on a connection after its fifth
use, and the pool keeps its connections, so the hot statements run prepared.
"""

from __future__ import annotations

import contextlib
import logging
import re
import secrets
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import psycopg
from psycopg.adapt import Dumper
from psycopg_pool import ConnectionPool, PoolTimeout

from tillit.postgres_connections import SteadyPool, connection_options, creating
from tillit.signer import errors
from tillit.signer.push import Notifier
from tillit.signer.store.base import Store, require_known
from tillit.signer.store.migrations import MIGRATIONS
from tillit.signer.store.tx import Tx

log = logging.getLogger("tillit.store")
T = TypeVar("T")

CHANNEL = "tillit_push"
"""The NOTIFY channel; the payload is the device id whose long-polls should wake."""
LISTENER_PROBE_SECONDS = 30.0
"""How long the push listener waits for a notification before it checks its connection with a round trip."""

LOCK_NAMESPACE = 0x54494C4C  # "TILL": first key of Tillit's advisory locks (they are per database)
AUDIT_LOCK = 1
MIGRATION_LOCK = 2
NAMED_LOCKS = LOCK_NAMESPACE + 1  # first key of `PostgresStore.exclusive`'s locks, the name's hash second

# -- the migrations in PostgreSQL's dialect ---------------------------------------------------------

_SQLITE_ONLY = re.compile(r"\b(AUTOINCREMENT|PRAGMA|WITHOUT\s+ROWID|INSERT\s+OR)\b", re.IGNORECASE)
_TYPES = [
    # SQLite's INTEGER PRIMARY KEY is the rowid: it numbers rows inserted without it (outbox.id).
    (re.compile(r"\bINTEGER\s+PRIMARY\s+KEY\b", re.IGNORECASE), "BIGSERIAL PRIMARY KEY"),
    # SQLite's integers and reals are 8 bytes; PostgreSQL's INTEGER and REAL are 4.
    (re.compile(r"\bINTEGER\b", re.IGNORECASE), "BIGINT"),
    (re.compile(r"\bREAL\b", re.IGNORECASE), "DOUBLE PRECISION"),
    (re.compile(r"\bBLOB\b", re.IGNORECASE), "BYTEA"),
]
_LITERAL = re.compile(r"('(?:[^']|'')*')")
_READS_AUDIT = re.compile(r"\bFROM\s+audit\b", re.IGNORECASE)
_SELECT = re.compile(r"\s*SELECT\b", re.IGNORECASE)


def postgres_ddl(script: str) -> str:
    """One migration of `store.migrations.MIGRATIONS` in PostgreSQL's types (string literals untouched).

    The migrations are written once, in the portable subset both engines share; anything SQLite-only
    raises here (and in the tests), so a new migration cannot silently diverge."""
    parts = _LITERAL.split(script)
    for i in range(0, len(parts), 2):  # the odd parts are the literals
        code = parts[i]
        found = _SQLITE_ONLY.search(code)
        if found:
            raise ValueError(f"migration uses SQLite-only {found.group(0)!r}; write it for both engines")
        for pattern, replacement in _TYPES:
            code = pattern.sub(replacement, code)
        parts[i] = code
    return "".join(parts)


def _statements(script: str) -> list[str]:
    return [s for s in script.split(";") if s.strip()]


# -- transactions -----------------------------------------------------------------------------------


class PgTx(Tx):
    """A `Tx` on a psycopg cursor: `%s` placeholders, row locks on read-modify-write reads, and
    audit appends deferred to commit.

    Why the audit chain is serialised with `pg_advisory_xact_lock` and not `SELECT ... FOR UPDATE` on
    a one-row head table: the lock needs no second copy of the chain's head that a restore or a
    manual repair could leave disagreeing with the `audit` table, so both engines keep one schema; it
    is scoped to the database and released at commit or rollback like a row lock. Without it, two
    transactions would read the same last entry and both insert the next `seq` (one then fails on the
    primary key, or, were seq not unique, the chain would fork).

    Why deferred: nearly every writing transaction appends to the audit log, so its lock is the one
    every writer shares. Taken mid-transaction, it would be held while the transaction goes on to lock
    order and customer rows, and a transaction holding such a row and waiting for the audit lock
    would deadlock with it. Taken last, when the transaction will lock nothing else, it can never be
    part of a cycle, and it is held only for the inserts and the commit. Entries keep the order in
    which the transaction made them; `seq` is assigned when they are written. (A transaction that
    reads the audit table after appending writes its entries at that read, to see them: only the
    audit's own verification and checkpoints do that.)
    """

    def __init__(self, cursor: Any, connect: Callable[[str, tuple[Any, ...]], Any] | None = None) -> None:
        """`connect` makes a read (`PostgresStore.read`): there is no cursor yet, `connect` runs the
        first statement on a connection it takes and returns the cursor; every statement then runs on
        its own (autocommit), and anything but a SELECT is refused."""
        super().__init__(cursor, placeholder="%s", for_update="" if connect else " FOR UPDATE")
        self._audit_queue: list[tuple[str, str, float, dict[str, Any]]] = []
        self._connect = connect
        self._read_only = connect is not None

    def audit(self, event: str, subject: str, at: float, **data: Any) -> None:
        if self._read_only:
            raise RuntimeError("Store.read() cannot append to the audit log; use Store.tx()")
        self._audit_queue.append((event, subject, at, data))

    def flush_audit(self) -> None:
        """Write the queued audit entries under the chain's lock (the store calls this before commit)."""
        if not self._audit_queue:
            return
        self.execute("SELECT pg_advisory_xact_lock(?::integer, ?::integer)", [LOCK_NAMESPACE, AUDIT_LOCK])
        queued, self._audit_queue = self._audit_queue, []
        for event, subject, at, data in queued:
            super().audit(event, subject, at, **data)

    def _lock_key(self, scope: str, key: str) -> None:
        # Keyed by the scope's hash and the key's: a transaction locking a number then a kiosk (the
        # rate windows) never waits in the opposite order for another, whatever the hashes.
        self.execute("SELECT pg_advisory_xact_lock(hashtext(?), hashtext(?))", [scope, key])

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        # Whatever reads the audit table (audit_entries, count_audit, or a method added later) sees
        # this transaction's own entries, as it would under SQLite.
        if self._audit_queue and _READS_AUDIT.search(sql):
            self.flush_audit()
        if self._read_only:
            # Outside a transaction a write would commit at once, alone: refused, as SQLite's read-only
            # reader connection refuses it.
            if not _SELECT.match(sql):
                raise RuntimeError(f"Store.read() runs only SELECTs, not {sql.split(None, 1)[0]!r}; use Store.tx()")
            if self._connect is not None:
                connect, self._connect = self._connect, None
                self._cur = connect(sql.replace("?", "%s"), tuple(params))
                return self._cur
        return super().execute(sql, params)


class _BoolAsInteger(Dumper):
    """SQLite stores Python booleans as 0/1 in INTEGER columns, and the schema has no BOOLEAN: do the same."""

    oid = psycopg.postgres.types["int8"].oid

    def dump(self, obj: Any) -> bytes:
        return b"1" if obj else b"0"


def _configure(conn: psycopg.Connection[Any]) -> None:
    conn.adapters.register_dumper(bool, _BoolAsInteger)
    conn.isolation_level = psycopg.IsolationLevel.READ_COMMITTED


# -- the store ---------------------------------------------------------------------------------------


class PostgresStore(Store):
    """PostgreSQL through a connection pool; see the module's docstring for the concurrency model.

    `max_size` bounds this process's connections (plus one for the push listener): N instances
    need about N * (max_size + 1) of the server's `max_connections`."""

    shared = True

    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 16, timeout: float = 30.0) -> None:
        self.url = url
        try:
            with (
                psycopg.connect(url, autocommit=True, **connection_options(url)) as conn,
                creating("migrate the schema"),
            ):
                _configure(conn)
                self._migrate(conn)
        except psycopg.OperationalError as e:
            problem = str(e).strip()
            raise errors.Unavailable(f"cannot use the PostgreSQL database (TILLIT_DATABASE_URL): {problem}") from None
        self._pool: ConnectionPool[psycopg.Connection[Any]] = SteadyPool(
            url,
            min_size=min_size,
            max_size=max_size,
            timeout=timeout,
            kwargs={"autocommit": True, "application_name": "tillit-signer", **connection_options(url)},
            configure=_configure,
            # No `check` on checkout: it costs a round trip per transaction. `_checked_out` replaces a
            # connection that broke while idle when its first statement fails, before the caller's work.
            name="tillit-store",
            open=True,
        )
        self._listener: _Listener | None = None
        self._notifier: Notifier | None = None

    @staticmethod
    def _migrate(conn: psycopg.Connection[Any]) -> None:
        """Apply the missing migrations, one transaction each, under an advisory lock so that
        instances starting together migrate once."""
        while True:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s::integer, %s::integer)", (LOCK_NAMESPACE, MIGRATION_LOCK))
                # DDL only when the table is missing: a role without CREATE may then run a database
                # that its owner has migrated.
                if conn.execute("SELECT to_regclass('schema_version')").fetchone() == (None,):
                    conn.execute(postgres_ddl("CREATE TABLE schema_version (version INTEGER NOT NULL)"))
                row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
                current = int(row[0] or 0) if row else 0
                require_known(current, "the PostgreSQL database")
                if current >= len(MIGRATIONS):
                    return
                for statement in _statements(postgres_ddl(MIGRATIONS[current])):
                    conn.execute(statement)  # DDL from MIGRATIONS, never input
                conn.execute("INSERT INTO schema_version VALUES (%s)", (current + 1,))

    @property
    def schema_version(self) -> int:
        conn, cur = self._checked_out(lambda c: c.execute("SELECT MAX(version) FROM schema_version"))
        row = cur.fetchone()
        self._pool.putconn(conn)
        return int(row[0]) if row else 0

    def _checked_out(self, first: Callable[[psycopg.Connection[Any]], T]) -> tuple[psycopg.Connection[Any], T]:
        """A connection from the pool, on which `first` (the caller's first round trip) succeeded, and
        what `first` returned; the caller gives the connection back (`putconn`).

        The pool does not test a connection as it hands it out (one more round trip per transaction):
        one that broke while idle (the server restarted, an administrator ended it) fails in `first`
        instead, before any of the caller's work, and is dropped for the next, up to a pool's worth."""
        failure = ""
        for _ in range(self._pool.max_size + 1):
            try:
                conn = self._pool.getconn()
            except PoolTimeout as e:
                raise errors.Unavailable(f"the database did not answer in time: {e}") from None
            try:
                return conn, first(conn)
            except psycopg.OperationalError as e:
                self._pool.putconn(conn)  # a broken connection is discarded here
                if not conn.broken:
                    raise
                failure = str(e).strip()
            except BaseException:
                self._pool.putconn(conn)
                raise
        raise errors.Unavailable(f"cannot use the PostgreSQL database: {failure}")

    @contextmanager
    def tx(self) -> Iterator[Tx]:
        # BEGIN and COMMIT by hand rather than psycopg's conn.transaction(): BEGIN is `first`, the
        # statement that finds a broken connection, and the Python around each costs less.
        conn, cur = self._checked_out(_begin)
        try:
            tx = PgTx(cur)
            try:
                yield tx
                tx.flush_audit()
            except BaseException:
                with contextlib.suppress(psycopg.Error):  # a broken connection has no transaction left
                    cur.execute("ROLLBACK", prepare=False)
                raise
            cur.execute("COMMIT", prepare=False)
        finally:
            self._pool.putconn(conn)
        if tx.last_audit_seq and self.on_audit is not None:
            self.on_audit(tx.last_audit_seq)  # after COMMIT, as SqliteStore does

    @contextmanager
    def read(self) -> Iterator[Tx]:
        """Reads without BEGIN and COMMIT, each statement on its own (autocommit): at READ COMMITTED
        each statement of a transaction sees its own snapshot anyway, so the rows are the same, two
        round trips sooner. The connection is taken at the first statement; only SELECTs run."""
        taken: list[psycopg.Connection[Any]] = []

        def connect(sql: str, params: tuple[Any, ...]) -> psycopg.Cursor[Any]:
            conn, cur = self._checked_out(lambda c: c.execute(sql, params))
            taken.append(conn)
            return cur

        try:
            yield PgTx(None, connect=connect)
        finally:
            for conn in taken:
                self._pool.putconn(conn)

    def check(self, timeout: float) -> None:
        """Raise unless the pool hands a connection within `timeout` seconds and the server answers a
        read within `timeout` more. The server cancels that read itself (statement_timeout, for its
        transaction only), so a slow or locked server does not keep the connection; a frozen one
        does until it answers, which psycopg cannot cut short (signer/health.py bounds the wait)."""
        try:
            conn = self._pool.getconn(timeout=timeout)
        except PoolTimeout:
            raise errors.Unavailable(f"no connection to the database within {timeout:g} s") from None
        try:
            with conn.transaction():
                conn.execute("SELECT set_config('statement_timeout', %s, true)", (f"{round(timeout * 1000)}ms",))
                conn.execute("SELECT COUNT(*) FROM schema_version")
        except psycopg.errors.QueryCanceled:
            raise errors.Unavailable(f"the database did not answer within {timeout:g} s") from None
        finally:
            self._pool.putconn(conn)

    @contextmanager
    def exclusive(self, name: str) -> Iterator[None]:
        """A session advisory lock on a connection of its own, held until the block ends: every
        instance on this database waits for it (`NAMED_LOCKS`, the name's hash)."""
        conn, _ = self._checked_out(
            lambda c: c.execute("SELECT pg_advisory_lock(%s::integer, hashtext(%s))", (NAMED_LOCKS, name))
        )
        try:
            yield
        finally:
            try:
                conn.execute("SELECT pg_advisory_unlock(%s::integer, hashtext(%s))", (NAMED_LOCKS, name))
            except psycopg.Error:
                conn.close()  # the server ends a session's locks with it
            self._pool.putconn(conn)

    # -- cross-instance push -------------------------------------------------------------------------

    def publish(self, key: str) -> None:
        """NOTIFY every instance listening on this database (this one too) that `key` has news.

        Sent after the caller's transaction committed (as `Notifier.notify` is called), in a
        transaction of its own: a listener that wakes finds the change already visible."""
        conn, _ = self._checked_out(lambda c: c.execute("SELECT pg_notify(%s, %s)", (CHANNEL, key)))
        self._pool.putconn(conn)

    def connect_notifier(self, notifier: Notifier) -> None:
        """Publish `notifier`'s wake-ups to the other instances and deliver theirs to it. Returns once
        LISTEN is in place, so nothing committed afterwards is missed."""
        if self._listener is not None:
            raise RuntimeError("this store already feeds a notifier")
        self._listener = _Listener(self.url, notifier, self._pool)
        self._listener.start()
        self._notifier = notifier
        notifier.attach(self.publish)

    def close(self) -> None:
        if self._notifier is not None:
            self._notifier.attach(None)
            self._notifier = None
        if self._listener is not None:
            self._listener.stop()
            self._listener = None
        self._pool.close()


def _begin(conn: psycopg.Connection[Any]) -> psycopg.Cursor[Any]:
    cur = conn.cursor()
    cur.execute("BEGIN ISOLATION LEVEL READ COMMITTED", prepare=False)
    return cur


class _Listener:
    """One thread per process: LISTEN on the push channel, hand each payload to the local notifier.

    Our own notifications come back too (NOTIFY reaches every listener of the database); waking a
    local long-poll twice costs it one extra query. After a lost connection it reconnects (with a
    backoff on that failure path only) and wakes every local waiter, since notifications sent in
    between are gone."""

    def __init__(self, url: str, notifier: Notifier, pool: ConnectionPool[psycopg.Connection[Any]]) -> None:
        self._url = url
        self._notifier = notifier
        self._pool = pool
        self._stop_channel = f"tillit_push_stop_{secrets.token_hex(8)}"
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tillit-push-listener", daemon=True)

    def start(self, timeout: float = 15.0) -> None:
        self._thread.start()
        if not self._ready.wait(timeout):
            log.warning("the push listener could not LISTEN yet; it keeps trying")

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(psycopg.Error, PoolTimeout), self._pool.connection(timeout=5) as conn:
            conn.execute(f"NOTIFY {self._stop_channel}")  # our own identifier
        self._thread.join(timeout=10)

    def _run(self) -> None:
        delay = 0.1
        while not self._stop.is_set():
            try:
                with psycopg.connect(
                    self._url, autocommit=True, application_name="tillit-push", **connection_options(self._url)
                ) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    conn.execute(f"LISTEN {self._stop_channel}")
                    if self._stop.is_set():  # stop() may have sent its NOTIFY before we listened
                        return
                    if self._ready.is_set():
                        self._notifier.notify_all()  # reconnected: what was sent meanwhile is lost
                    self._ready.set()
                    delay = 0.1
                    while True:
                        for note in conn.notifies(timeout=LISTENER_PROBE_SECONDS):
                            if note.channel == self._stop_channel or self._stop.is_set():
                                return
                            self._notifier.notify_local(note.payload)
                        # Quiet for a while: a round trip, so that a connection to a server gone
                        # away fails (TCP keepalives, tcp_user_timeout) and is made again.
                        conn.execute("SELECT 1")
            except psycopg.Error as e:
                if self._stop.is_set():
                    return
                log.warning("the push listener lost the database (%s); reconnecting", str(e).strip())
                self._stop.wait(delay)
                delay = min(delay * 2, 5.0)
