"""Database: schema (SQLAlchemy Core), versioned migrations, engine and transactions.

The same code runs on SQLite (embedded default, one process) and PostgreSQL (several
stateless app processes). Schema changes are an ordered list of migration functions; the
``schema_version`` table records which ones ran. Migration 1 creates the tables in the
shape declared below; later migrations must ALTER (never edit migration 1).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

metadata = sa.MetaData()
BigInt = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

schema_version = sa.Table(
    "schema_version",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("applied_at", sa.Float, nullable=False),
)
facilities = sa.Table(
    "facilities",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("quota_bytes", sa.BigInteger, nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
)
users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("username", sa.String(128), nullable=False, unique=True),
    sa.Column("display_name", sa.String(200), nullable=False),
    sa.Column("password_hash", sa.String(256), nullable=False),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("facility_id", sa.String(64), sa.ForeignKey("facilities.id"), nullable=False),
    sa.Column("department", sa.String(100), nullable=False, server_default=""),
    sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", sa.Float, nullable=False),
    # added by migration 11 (created directly on a fresh database)
    sa.Column("title", sa.String(100), nullable=False, server_default=""),
)
sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.String(64), sa.ForeignKey("users.id"), nullable=False, index=True),
    sa.Column("access_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("access_expires", sa.Float, nullable=False),
    sa.Column("refresh_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("refresh_expires", sa.Float, nullable=False),
    sa.Column("revoked", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("device_name", sa.String(128), nullable=False, server_default=""),
    sa.Column("ip", sa.String(64), nullable=False, server_default=""),
    sa.Column("created_at", sa.Float, nullable=False),
)
login_failures = sa.Table(
    "login_failures",
    metadata,
    sa.Column("key", sa.String(300), primary_key=True),
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("window_start", sa.Float, nullable=False),
    sa.Column("locked_until", sa.Float, nullable=False),
)
counters = sa.Table(
    "counters",
    metadata,
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("value", sa.BigInteger, nullable=False),
)
documents = sa.Table(
    "documents",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("facility_id", sa.String(64), nullable=False, index=True),
    sa.Column("patient_id", sa.String(36), nullable=True, index=True),
    sa.Column("consultation_id", sa.String(36), nullable=True, index=True),
    sa.Column("rev", sa.Integer, nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False, unique=True),
    sa.Column("fields", sa.JSON, nullable=False),
    sa.Column("deleted", sa.Boolean, nullable=False),
    sa.Column("conflict", sa.JSON, nullable=True),
    sa.Column("created_by", sa.String(64), nullable=False),
    sa.Column("updated_by", sa.String(64), nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    # added by migration 31 (created directly on a fresh database): the writing
    # transaction's key, see hub.change_numbers
    sa.Column("txn", sa.BigInteger, nullable=False, server_default="0"),
    sa.Index("documents_txn_seq", "txn", "seq"),
)
revisions = sa.Table(
    "revisions",
    metadata,
    sa.Column("doc_id", sa.String(36), primary_key=True),
    sa.Column("rev", sa.Integer, primary_key=True),
    sa.Column("fields", sa.JSON, nullable=False),
    sa.Column("deleted", sa.Boolean, nullable=False),
    sa.Column("user_id", sa.String(64), nullable=False),
    sa.Column("change_id", sa.String(36), nullable=True),
    sa.Column("at", sa.Float, nullable=False),
)
applied_changes = sa.Table(
    "applied_changes",
    metadata,
    sa.Column("change_id", sa.String(36), primary_key=True),
    sa.Column("user_id", sa.String(64), nullable=False),
    sa.Column("doc_id", sa.String(36), nullable=False),
    sa.Column("result", sa.JSON, nullable=False),
    sa.Column("at", sa.Float, nullable=False),
)
consultations = sa.Table(
    "consultations",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("patient_id", sa.String(36), nullable=True, index=True),
    sa.Column("requesting_facility_id", sa.String(64), nullable=False, index=True),
    sa.Column("target_facility_id", sa.String(64), nullable=False, server_default="", index=True),
    sa.Column("department", sa.String(100), nullable=False, server_default=""),
    sa.Column("specialist_id", sa.String(64), nullable=False, server_default="", index=True),
    # added by migration 10 (created directly on a fresh database)
    sa.Column("status", sa.String(16), nullable=False, server_default="draft"),
)
blob_refs = sa.Table(
    "blob_refs",
    metadata,
    sa.Column("doc_id", sa.String(36), primary_key=True),
    sa.Column("sha256", sa.String(64), primary_key=True, index=True),
)
blobs = sa.Table(
    "blobs",
    metadata,
    sa.Column("sha256", sa.String(64), primary_key=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("media_type", sa.String(255), nullable=False),
    sa.Column("facility_id", sa.String(64), nullable=False, index=True),
    sa.Column("uploaded_by", sa.String(64), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)
uploads = sa.Table(
    "uploads",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("user_id", sa.String(64), nullable=False),
    sa.Column("facility_id", sa.String(64), nullable=False, index=True),
    sa.Column("length", sa.BigInteger, nullable=False),
    sa.Column("offset", sa.BigInteger, nullable=False),
    sa.Column("meta", sa.JSON, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=True),
)
audit = sa.Table(
    "audit",
    metadata,
    sa.Column("id", BigInt, primary_key=True, autoincrement=True),
    sa.Column("at", sa.Float, nullable=False, index=True),
    sa.Column("user_id", sa.String(64), nullable=False),
    sa.Column("username", sa.String(128), nullable=False),
    sa.Column("ip", sa.String(64), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("patient_id", sa.String(36), nullable=True, index=True),
    sa.Column("doc_id", sa.String(36), nullable=True),
    sa.Column("sha256", sa.String(64), nullable=True),
    sa.Column("detail", sa.String(500), nullable=False, server_default=""),
)

_V1_TABLES = [t for t in metadata.sorted_tables if t.name != "schema_version"]  # (so far)

# ---- added by migration 2 ------------------------------------------------------------------

missed_calls = sa.Table(
    "missed_calls",
    metadata,
    sa.Column("id", BigInt, primary_key=True, autoincrement=True),
    sa.Column("user_id", sa.String(64), nullable=False, index=True),  # whom it rang
    sa.Column("call_id", sa.String(64), nullable=False),
    sa.Column("consultation_id", sa.String(64), nullable=False),
    sa.Column("caller_id", sa.String(64), nullable=False),
    sa.Column("caller_name", sa.String(200), nullable=False),
    sa.Column("caller_facility", sa.String(200), nullable=False, server_default=""),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("delivered_at", sa.Float, nullable=True),  # told to the user (kept as history)
)


# ---- added by migration 20 -----------------------------------------------------------------

upload_locks = sa.Table(
    "upload_locks",
    metadata,
    # One row while a request writes to an upload: the lease every hub process honours.
    sa.Column("upload_id", sa.String(32), primary_key=True),
    sa.Column("token", sa.String(32), nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
)

# ---- added by migration 21 -----------------------------------------------------------------

spent_refresh_tokens = sa.Table(
    "spent_refresh_tokens",
    metadata,
    # Refresh tokens already exchanged: one coming back means a copy was stolen (or the
    # reply was lost and replayed); either way the whole session ends.
    sa.Column("refresh_hash", sa.String(64), primary_key=True),
    sa.Column("session_id", sa.String(64), nullable=False, index=True),
    sa.Column("spent_at", sa.Float, nullable=False),
)

# ---- added by migration 22 -----------------------------------------------------------------

blob_holders = sa.Table(
    "blob_holders",
    metadata,
    # Facilities that uploaded a blob's bytes after another one did (content addressing
    # stores it once): having sent the bytes, they may read and reference it too.
    sa.Column("sha256", sa.String(64), primary_key=True),
    sa.Column("facility_id", sa.String(64), primary_key=True),
)


# ---- added by migration 30 (signaling state shared by every hub process) -------------------

sig_processes = sa.Table(
    "sig_processes",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("host", sa.String(200), nullable=False, server_default=""),
    sa.Column("pid", sa.Integer, nullable=False, server_default="0"),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("heartbeat_at", sa.Float, nullable=False),
)
sig_connections = sa.Table(
    "sig_connections",
    metadata,
    sa.Column("id", sa.String(48), primary_key=True),  # "<process id>:<n>"
    sa.Column("user_id", sa.String(64), nullable=False, index=True),
    sa.Column("process_id", sa.String(32), nullable=False, index=True),
    sa.Column("session_hash", sa.String(64), nullable=False, server_default=""),
    sa.Column("connected_at", sa.Float, nullable=False),
    # added by migration 32 (created directly on a fresh database): "call" for the app's
    # call socket, "sync" for a sync-hints socket, which can neither ring nor answer
    sa.Column("purpose", sa.String(8), nullable=False, server_default="call"),
)
sig_calls = sa.Table(
    "sig_calls",
    metadata,
    sa.Column("call_id", sa.String(64), primary_key=True),
    sa.Column("consultation_id", sa.String(64), nullable=False, server_default=""),
    sa.Column("caller_id", sa.String(64), nullable=False, index=True),
    sa.Column("caller", sa.JSON, nullable=False),  # UserInfo
    sa.Column("caller_conn", sa.String(48), nullable=False, server_default=""),
    sa.Column("rung", sa.JSON, nullable=False),  # [UserInfo]
    sa.Column("phase", sa.String(16), nullable=False, index=True),
    sa.Column("callee_id", sa.String(64), nullable=True, index=True),
    sa.Column("callee", sa.JSON, nullable=True),
    sa.Column("test", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("started", sa.Float, nullable=False),
    sa.Column("ring_deadline", sa.Float, nullable=True),
    sa.Column("ended_at", sa.Float, nullable=True),
    sa.Column("end_reason", sa.String(32), nullable=False, server_default=""),
)
sig_gone = sa.Table(
    "sig_gone",
    metadata,
    sa.Column("call_id", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.String(64), primary_key=True),
    sa.Column("deadline", sa.Float, nullable=False, index=True),
)
sig_payloads = sa.Table(
    "sig_payloads",
    metadata,
    sa.Column("id", BigInt, primary_key=True, autoincrement=True),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False, index=True),
)
_V30_TABLES = [sig_processes, sig_connections, sig_calls, sig_gone, sig_payloads]


def _migration_1(conn: Connection) -> None:
    """Initial schema, the sequence counter, and the append-only guard on audit."""
    metadata.create_all(conn, tables=_V1_TABLES)
    conn.execute(counters.insert().values(name="seq", value=0))
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(
            "CREATE FUNCTION audit_append_only() RETURNS trigger AS $$ BEGIN "
            "RAISE EXCEPTION 'audit is append-only'; END $$ LANGUAGE plpgsql"
        )
        conn.exec_driver_sql(
            "CREATE TRIGGER audit_no_change BEFORE UPDATE OR DELETE ON audit "
            "FOR EACH ROW EXECUTE FUNCTION audit_append_only()"
        )
    else:
        for op in ("UPDATE", "DELETE"):
            conn.exec_driver_sql(
                f"CREATE TRIGGER audit_no_{op.lower()} BEFORE {op} ON audit "
                "BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END"
            )


def _migration_2(conn: Connection) -> None:
    """Missed calls outlive a hub restart (they were kept in the signaling process)."""
    missed_calls.create(conn, checkfirst=True)


def _migration_10(conn: Connection) -> None:
    """Consultation workflow: the status is indexed beside the participants (drafts are
    visible to the requesting clinic only; routing needs it without reading JSON)."""
    _add_column(conn, "consultations", "status", "VARCHAR(16) NOT NULL DEFAULT 'draft'")
    rows = conn.execute(
        sa.select(documents.c.id, documents.c.fields, documents.c.deleted).where(
            documents.c.type == "consultation"
        )
    ).all()
    for row in rows:
        status = "closed" if row.deleted else str((row.fields or {}).get("status") or "draft")
        conn.execute(
            consultations.update().where(consultations.c.id == row.id).values(status=status[:16])
        )


def _migration_11(conn: Connection) -> None:
    """Directory: a specialist's professional title (职称) shown when picking one."""
    _add_column(conn, "users", "title", "VARCHAR(100) NOT NULL DEFAULT ''")


def _add_column(conn: Connection, table: str, column: str, ddl: str) -> None:
    """ALTER TABLE … ADD COLUMN unless migration 1 already created it (the declared tables
    carry later columns, so a fresh database gets them at once)."""
    if column not in {c["name"] for c in sa.inspect(conn).get_columns(table)}:
        conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {column} {ddl}")


def _migration_20(conn: Connection) -> None:
    """Upload leases in the database, so one PATCH per upload holds across hub processes."""
    upload_locks.create(conn, checkfirst=True)


def _migration_21(conn: Connection) -> None:
    """Spent refresh tokens, so a replay revokes its session."""
    spent_refresh_tokens.create(conn, checkfirst=True)


def _migration_22(conn: Connection) -> None:
    """Every facility that uploaded a blob's bytes holds it (not only the first)."""
    blob_holders.create(conn, checkfirst=True)


def _migration_30(conn: Connection) -> None:
    """Signaling state leaves the process: connections, calls, their timers, process
    heartbeats and oversized fan-out payloads, shared by every hub process."""
    metadata.create_all(conn, tables=_V30_TABLES)


def _migration_31(conn: Connection) -> None:
    """Pushes stop queueing on the counter row (PostgreSQL): ``seq`` from a SEQUENCE, each
    revision stamped with its writer's transaction key ``txn``, pulls in (txn, seq) order
    below the horizon of unfinished writers (hub.change_numbers). Existing revisions get
    keys below every transaction id, in their seq order (SQLite: their seq)."""
    _add_column(conn, "documents", "txn", "BIGINT NOT NULL DEFAULT 0")
    if conn.dialect.name == "postgresql":
        top = conn.execute(sa.select(counters.c.value).where(counters.c.name == "seq")).scalar()
        conn.exec_driver_sql(f"CREATE SEQUENCE documents_seq START WITH {int(top or 0) + 1}")
        conn.exec_driver_sql(f"UPDATE documents SET txn = seq - {int(top or 0) + 1}")
    else:
        conn.exec_driver_sql("UPDATE documents SET txn = seq")
    conn.exec_driver_sql("CREATE INDEX IF NOT EXISTS documents_txn_seq ON documents (txn, seq)")


def _migration_32(conn: Connection) -> None:
    """Sockets say what they are for: only call sockets make someone present (reachable)."""
    _add_column(conn, "sig_connections", "purpose", "VARCHAR(8) NOT NULL DEFAULT 'call'")


MIGRATIONS: list[tuple[int, Callable[[Connection], None]]] = [
    (1, _migration_1),
    (2, _migration_2),
    (10, _migration_10),
    (11, _migration_11),
    (20, _migration_20),
    (21, _migration_21),
    (22, _migration_22),
    (30, _migration_30),
    (31, _migration_31),
    (32, _migration_32),
]
"""Ordered (version, function). Append new migrations; never edit an old one."""


def normalize_url(url: str) -> str:
    """Use psycopg 3 for plain ``postgresql://`` URLs."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


class Database:
    """An engine plus the write discipline of its backend."""

    def __init__(self, url: str) -> None:
        self.url = normalize_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        if self.is_sqlite:
            self.engine: Engine = sa.create_engine(
                self.url, connect_args={"check_same_thread": False, "timeout": 30}
            )
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        else:
            self.engine = sa.create_engine(
                self.url, pool_size=10, max_overflow=10, pool_pre_ping=True
            )
        # SQLite allows one writer: serialise writers in this process instead of failing
        # with "database is locked" (other processes wait on busy_timeout).
        self._write_lock = threading.Lock() if self.is_sqlite else None

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A read-write transaction (committed on exit, rolled back on error)."""
        if self._write_lock is None:
            with self.engine.begin() as conn:
                yield conn
            return
        with self._write_lock, self.engine.begin() as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction."""
        with self.engine.connect() as conn:
            yield conn

    def migrate(self) -> int:
        """Bring the schema up to date; returns the version now in place."""
        with self.write() as conn:
            if not self.is_sqlite:
                # Several hub processes may start at once: one migrates, the others wait.
                conn.exec_driver_sql("SELECT pg_advisory_xact_lock(720331)")
            schema_version.create(conn, checkfirst=True)
            done = set(conn.execute(sa.select(schema_version.c.version)).scalars())
            for version, fn in MIGRATIONS:
                if version in done:
                    continue
                fn(conn)
                conn.execute(
                    schema_version.insert().values(version=version, applied_at=time.time())
                )
            from hub.change_numbers import follow_cluster  # (it builds on this module)

            follow_cluster(conn)
            return max([v for v, _ in MIGRATIONS] + list(done))

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # noqa: ANN001
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def allocate_seq(conn: Connection, n: int = 1) -> int:
    """Reserve ``n`` sequence numbers from the counter row; returns the first (SQLite's
    change numbers, see hub.change_numbers; PostgreSQL uses a SEQUENCE since migration 31).
    """
    row = conn.execute(
        counters.update()
        .where(counters.c.name == "seq")
        .values(value=counters.c.value + n)
        .returning(counters.c.value)
    ).one()
    return int(row[0]) - n + 1


def insert_ignore(conn: Connection, table: sa.Table, values: dict) -> bool:
    """INSERT unless a row with this primary key exists; True when this call inserted it.

    On PostgreSQL a concurrent insert of the same key waits for the other transaction and
    then reports the conflict, so exactly one of several racing callers gets True."""
    from sqlalchemy.dialects import postgresql, sqlite

    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    pk = list(table.primary_key.columns)[0]
    stmt = dialect.insert(table).values(**values).on_conflict_do_nothing().returning(pk)
    return conn.execute(stmt).first() is not None
