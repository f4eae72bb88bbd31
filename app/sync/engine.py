"""The sync engine: a worker thread that pushes the outbox, uploads blobs, pulls by cursor and
reconciles by digest, for one signed-in user.

Order of work in a cycle: documents that need no blob → blobs (those of the next scheduled
consultation first, in parallel streams) → documents that were waiting for their blobs →
pull → downloads the next scheduled consultation needs → digest check (periodically).
Failures are typed (``app.sync.errors``) and retried with exponential backoff and jitter; the
UI reads a ``SyncStatus`` snapshot and never waits on the network.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
from collections.abc import Callable

from app.backoff import Backoff
from app.protocol.sync import (
    MAX_BLOB_QUERY,
    MAX_PULL_LIMIT,
    MAX_PUSH_BATCH,
    DocType,
    referenced_blobs,
)
from app.sync import blobstore as bs
from app.sync.blobstore import BlobCorrupt, BlobStore
from app.sync.downloads import download_blob
from app.sync.errors import BatchTooLarge, HubError, LoginRefused
from app.sync.hub_client import HubClient
from app.sync.status import IDLE, SERVER_ERROR, SYNCING, ItemStatus, SyncStatus
from app.sync.store import LocalDoc, RecordStore
from app.sync.transfer import ChunkSizer, LinkHealth, ThroughputMeter, timeouts
from app.sync.tus import RemoteBlob, TusUploader, UploadCancelled

log = logging.getLogger(__name__)

PREFETCH_CASES = 4
"""How many upcoming cases' attachments are downloaded ahead (see _next_consultation_blobs)."""

PROGRESS_RETRY_S = (0.05, 0.3)
"""Wait before retrying a failed cycle that still moved data (seconds, uniform)."""


class SyncEngine:
    """Background synchronisation of one user's cache with the hub."""

    def __init__(
        self,
        store: RecordStore,
        blobs: BlobStore,
        client: HubClient,
        *,
        stall_s: float = 30.0,
        poll_interval_s: float = 60.0,
        reconcile_every_s: float = 900.0,
        upload_streams: int = 3,
        resetting_link_streams: int = 2,
        push_batch: int = 100,
        pull_limit: int = 500,
        backoff: Backoff | None = None,
        chunk_target_s: float = 0.5,
    ) -> None:
        self.store = store
        self.blobs = blobs
        self.client = client
        self.stall_s = stall_s
        self.poll_interval_s = poll_interval_s
        self.reconcile_every_s = reconcile_every_s
        self.upload_streams = max(1, upload_streams)
        self.resetting_link_streams = max(1, min(resetting_link_streams, self.upload_streams))
        self.health = LinkHealth()
        # Blobs the hub said it has neither whole nor partly, this session: not asked again
        # after a failed cycle unless an upload of them had started (which may have left bytes).
        self._absent: set[str] = set()
        self._tus_extensions: set[str] | None = None
        self._no_blob_status = False
        self._moved = 0  # counts steps that reached the hub (chunks, pushed batches)
        self._streams_now = 1
        self.push_batch = min(push_batch, MAX_PUSH_BATCH)
        self.pull_limit = min(pull_limit, MAX_PULL_LIMIT)
        self.backoff = backoff or Backoff()
        self.meter = ThroughputMeter()
        self.sizer = ChunkSizer(target_s=chunk_target_s)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._listeners: list[Callable[[SyncStatus], None]] = []
        self._progress: dict[str, tuple[int, int]] = {}
        self._wanted: list[str] = []
        self._urgent: set[str] = set()
        self._last_reconcile = 0.0
        self._state = IDLE
        self._message = ""
        self._next_retry: float | None = None
        last = store.cache.get_state("last_success")
        self._last_success = float(last) if last else None
        # A local change goes out at once (not at the next periodic cycle) while online.
        store.on_local_write(self._local_write)

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        """Start the worker thread."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="yiqiao-sync", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the current request (transfers resume next time)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._thread = None

    def sync_now(self) -> None:
        """Run a cycle at once (the "Sync now" button); also ends a backoff wait."""
        self.backoff.reset()
        self._last_reconcile = 0.0
        self._wake.set()

    def poke(self) -> None:
        """Run a cycle soon: the hub hinted that something changed for us (or we wrote)."""
        self._wake.set()

    def _local_write(self) -> None:
        if self._next_retry is None:  # in a backoff the link is down: wait for the retry
            self._wake.set()

    def request_blob(self, sha: str, urgent: bool = False) -> None:
        """Download this blob soon (the viewer needs it). ``urgent`` (a series being shown in
        a call right now) puts it ahead of everything queued, including earlier urgent ones;
        other requests queue behind the urgent ones, newest first."""
        with self._lock:
            if urgent:
                if sha in self._wanted:
                    self._wanted.remove(sha)
                self._wanted.insert(0, sha)
                self._urgent.add(sha)
            elif sha not in self._wanted:
                ahead = 0
                while ahead < len(self._wanted) and self._wanted[ahead] in self._urgent:
                    ahead += 1
                self._wanted.insert(ahead, sha)
        self._wake.set()

    def wanted(self) -> list[str]:
        """The download queue, next first (a snapshot)."""
        with self._lock:
            return list(self._wanted)

    # -- status ------------------------------------------------------------------------------
    def on_status(self, listener: Callable[[SyncStatus], None]) -> None:
        """Call ``listener(status)`` (from the worker thread) whenever the status changes."""
        self._listeners.append(listener)

    def status(self) -> SyncStatus:
        """A snapshot for the UI (cheap; safe from any thread)."""
        pending = self.blobs.cache.query(
            "SELECT COALESCE(SUM(size - uploaded_bytes), 0) FROM blobs WHERE state = ?",
            (bs.UPLOAD_PENDING,),
        )[0][0]
        counts = self.store.cache.query(
            "SELECT (SELECT count(*) FROM outbox), "
            "(SELECT count(*) FROM documents WHERE conflict IS NOT NULL), "
            "(SELECT count(*) FROM documents WHERE sync_error IS NOT NULL)"
        )[0]
        retry = None
        if self._next_retry is not None:
            retry = max(0.0, self._next_retry - time.monotonic())
        return SyncStatus(
            state=self._state,
            message=self._message,
            docs_remaining=int(counts[0]),
            bytes_remaining=int(pending),
            throughput_bps=self.meter.bytes_per_s,
            last_success=self._last_success,
            conflicts=int(counts[1]),
            errors=int(counts[2]),
            next_retry_s=retry,
        )

    def item_status(self, doc: LocalDoc) -> ItemStatus:
        """Per-record state; an attachment waiting for its blobs shows upload progress."""
        if doc.sync_error:
            return ItemStatus("error", reason=doc.sync_error)
        if doc.conflict is not None:
            return ItemStatus("conflict")
        if not doc.pending:
            return ItemStatus("synced", 100)
        if doc.type == DocType.attachment:
            shas = [b["sha256"] for b in doc.fields.get("blobs", [])]
            if shas:
                marks = ",".join("?" * len(shas))
                rows = self.blobs.cache.query(
                    f"SELECT size, uploaded_bytes, state FROM blobs WHERE sha256 IN ({marks})",
                    tuple(shas),
                )
                total = sum(r[0] for r in rows) or 1
                done = sum(r[0] if r[2] != bs.UPLOAD_PENDING else r[1] for r in rows)
                if done < total:
                    return ItemStatus("uploading", int(100 * done / total))
        return ItemStatus("pending")

    def _set(self, state: str, message: str = "") -> None:
        self._state, self._message = state, message
        snapshot = self.status()
        for listener in list(self._listeners):
            try:
                listener(snapshot)
            except Exception:  # noqa: BLE001 - a broken listener must not stop sync
                log.exception("sync status listener failed")

    # -- the worker ------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            wait = self.poll_interval_s
            moved = self._moved
            try:
                self.run_once()
                self.backoff.reset()
                self._next_retry = None
                self._set(IDLE)
            except UploadCancelled:
                break
            except LoginRefused as exc:
                self._set(exc.state, str(exc))
                wait = 3600.0  # until the user signs in again or presses "Sync now"
            except HubError as exc:
                if self._moved != moved:
                    # The link works but drops: retry at once (a little jitter) instead of
                    # backing off further and further — a long upload on a link that resets
                    # every minute never finishes a whole cycle, so success alone would never
                    # reset the backoff. Progress is finite, so this cannot spin.
                    self.backoff.reset()
                    wait = self.backoff.rng.uniform(*PROGRESS_RETRY_S)
                else:
                    wait = self.backoff.next_delay()
                self._next_retry = time.monotonic() + wait
                self._set(exc.state, str(exc))
                log.info("sync failed (%s): %s; retry in %.1f s", exc.state, exc, wait)
            except Exception as exc:  # noqa: BLE001 - keep the worker alive, show the reason
                wait = self.backoff.next_delay()
                self._next_retry = time.monotonic() + wait
                log.exception("sync cycle failed")
                self._set(SERVER_ERROR, f"{type(exc).__name__}: {exc}")
            self._wake.wait(wait)
            self._wake.clear()

    def run_once(self) -> None:
        """One full cycle (raises ``HubError`` on failure; everything done so far is kept)."""
        self._set(SYNCING)
        self.push_documents()
        self.upload_blobs()
        self.push_documents()
        self.pull()
        self.download_blobs()
        if time.monotonic() - self._last_reconcile >= self.reconcile_every_s:
            self.reconcile()
        self._last_success = time.time()
        self.store.cache.set_state("last_success", str(self._last_success))

    # -- steps ---------------------------------------------------------------------------------
    def _blob_ready(self, sha: str) -> bool:
        rows = self.blobs.cache.query("SELECT state FROM blobs WHERE sha256 = ?", (sha,))
        return bool(rows) and rows[0][0] != bs.UPLOAD_PENDING

    def push_documents(self) -> None:
        """Push the outbox in batches until nothing pushable is left."""
        limit = self.push_batch
        while not self._stop.is_set():
            batch = self.store.take_batch(limit, self._blob_ready)
            if not batch:
                return
            try:
                reply = self.client.push(batch, timeout=timeouts(self.stall_s))
            except BatchTooLarge:
                limit = max(1, limit // 2)
                continue
            except HubError as exc:
                self.store.note_push_error(batch, str(exc))
                raise
            self.store.apply_push_results(batch, reply.results)
            self._moved += 1

    def _upload_order(self) -> list[str]:
        rows = self.blobs.cache.query(
            "SELECT sha256 FROM blobs WHERE state = ? AND present = 1 ORDER BY priority DESC, rowid",
            (bs.UPLOAD_PENDING,),
        )
        pending = [r[0] for r in rows]
        first = set(self._next_consultation_blobs())
        return [s for s in pending if s in first] + [s for s in pending if s not in first]

    def _next_consultation_blobs(self) -> list[str]:
        """Blobs of the cases someone will open soon: the soonest scheduled consultations,
        then accepted ones (a store-and-forward read happens without a call), and a call in
        progress — so the specialist opens the case with its images already here."""
        rank = {"in_call": 0, "scheduled": 1, "accepted": 2}
        active = [
            c for c in self.store.list(DocType.consultation) if c.fields.get("status") in rank
        ]
        active.sort(
            key=lambda c: (rank[c.fields["status"]], c.fields.get("scheduled_at") or "9999")
        )
        shas: list[str] = []
        for consultation in active[:PREFETCH_CASES]:
            for att in self.store.list(DocType.attachment, consultation_id=consultation.id):
                shas += [b["sha256"] for b in referenced_blobs(DocType.attachment, att.fields)]
            shas += [
                b["sha256"] for b in referenced_blobs(DocType.consultation, consultation.fields)
            ]
        return shas

    def _remote_blobs(self, order: list[str]) -> dict[str, RemoteBlob]:
        """The hub's view of the pending blobs in as few requests as possible (empty when the
        hub lacks ``/blobs/status``: the uploader then asks blob by blob)."""
        known = {sha: RemoteBlob(False) for sha in order if sha in self._absent}
        ask = [sha for sha in order if sha not in self._absent]
        if self._no_blob_status:
            return {}
        had = dict(
            self.blobs.cache.query(
                "SELECT sha256, uploaded_bytes FROM blobs WHERE state = ?", (bs.UPLOAD_PENDING,)
            )
        )
        for i in range(0, len(ask), MAX_BLOB_QUERY):
            reply = self.client.blob_status(ask[i : i + MAX_BLOB_QUERY], timeouts(self.stall_s))
            if reply is None:
                self._no_blob_status = True
                return {}
            grown = []
            for blob in reply.blobs:
                known[blob.sha256] = RemoteBlob(blob.present, blob.upload_url, blob.offset)
                if not blob.present and blob.upload_url is None:
                    self._absent.add(blob.sha256)
                if blob.upload_url and blob.offset > (had.get(blob.sha256) or 0):
                    grown.append((blob.upload_url, blob.offset, blob.sha256))
            if grown:
                # Bytes of cut requests arrived: the link carries data. Recorded at once, so
                # the same bytes never count as progress twice (and the UI shows them).
                self._moved += 1
                with self.blobs.cache.transaction() as db:
                    db.executemany(
                        "UPDATE blobs SET upload_url = ?, uploaded_bytes = ? WHERE sha256 = ?",
                        grown,
                    )
        return known

    def _stream_count(self) -> int:
        """Parallel uploads: enough to hide round trips; fewer on a resetting link, where each
        stream's cut connection costs a reconnect and its bytes still in flight."""
        if self.health.resetting():
            return self.resetting_link_streams
        return self.upload_streams

    def upload_blobs(self) -> None:
        """Upload pending blobs over parallel streams (first failure is raised after the rest)."""
        order = self._upload_order()
        if not order:
            return
        if self._tus_extensions is None:  # asked once per session (None = ask again next time)
            self._tus_extensions = self.client.tus_extensions(timeouts(self.stall_s))
        remote = self._remote_blobs(order)
        queue = list(order)
        lock = threading.Lock()
        errors: list[BaseException] = []

        def worker() -> None:
            uploader = TusUploader(
                self.client.clone(),
                self.blobs,
                self.sizer,
                self.stall_s,
                self._stop,
                self._on_upload_progress,
                health=self.health,
                with_upload="creation-with-upload" in (self._tus_extensions or ()),
            )
            while not self._stop.is_set():
                with lock:
                    if not queue or errors:
                        return
                    sha = queue.pop(0)
                    self._absent.discard(sha)  # may leave bytes on the hub: ask next time
                try:
                    uploader.upload(sha, remote.get(sha))
                except BlobCorrupt as exc:
                    self._mark_blob_error(sha, str(exc))  # never retried blindly; shown
                except BaseException as exc:  # noqa: BLE001 - handed to the cycle
                    with lock:
                        errors.append(exc)
                    return

        streams = min(self._stream_count(), len(order))
        self._streams_now = streams
        with concurrent.futures.ThreadPoolExecutor(streams, thread_name_prefix="yiqiao-up") as pool:
            for future in [pool.submit(worker) for _ in range(streams)]:
                future.result()
        if errors:
            raise errors[0]

    def _on_upload_progress(self, sha: str, done: int, total: int) -> None:
        self._moved += 1
        self._progress[sha] = (done, total)
        # The sizer measures one stream; the link carries all of them.
        self.meter.bytes_per_s = self.sizer.meter.bytes_per_s * self._streams_now

    def _mark_blob_error(self, sha: str, message: str) -> None:
        with self.blobs.cache.transaction() as db:
            db.execute("UPDATE blobs SET error = ? WHERE sha256 = ?", (message, sha))

    def pull(self, since: int | None = None, seen: set[str] | None = None) -> None:
        """Pull pages after the cursor until the hub has nothing more."""
        cursor = self.store.cursor() if since is None else since
        while not self._stop.is_set():
            page = self.client.pull(cursor, self.pull_limit, timeout=timeouts(self.stall_s))
            if page.next_cursor < cursor and page.changes:
                raise HubError("the hub's pull cursor went backwards")
            self.store.apply_pull(page.changes, page.next_cursor, self._note_manifest)
            if seen is not None:
                seen.update(str(d.id) for d in page.changes if not d.deleted)
            cursor = page.next_cursor
            if not page.has_more:
                return

    def _note_manifest(self, db: object, fields: dict) -> None:
        for blob in fields.get("blobs", []):
            if isinstance(blob, dict) and isinstance(blob.get("sha256"), str):
                self.blobs.note_remote(
                    blob["sha256"],
                    int(blob.get("size") or 0),
                    str(blob.get("media_type") or "application/octet-stream"),
                    db,
                )

    def download_blobs(self) -> None:
        """Fetch blobs the viewer asked for, then those of the next scheduled consultation.
        The queue is read again before every blob, so an urgent request made meanwhile (a
        series shown in a call) goes next, not after the whole prefetch."""
        done: set[str] = set()
        background: list[str] | None = None
        while not self._stop.is_set():
            with self._lock:
                sha = next((s for s in self._wanted if s not in done), None)
            if sha is None:
                if background is None:
                    background = self._next_consultation_blobs()
                sha = next((s for s in background if s not in done), None)
                if sha is None:
                    return
            done.add(sha)
            if not self.blobs.has(sha):
                download_blob(self.client, self.blobs, sha, self.stall_s, self._stop, self.meter)
            with self._lock:
                if sha in self._wanted:
                    self._wanted.remove(sha)
                self._urgent.discard(sha)

    def reconcile(self) -> bool:
        """Compare digests; on a mismatch pull everything again and drop what the hub no
        longer returns. Returns True when they matched."""
        if self.store.outbox_size():
            return False  # the digest is only meaningful once our changes are on the hub
        digest, count = self.store.digest()
        reply = self.client.reconcile(digest, count)
        self._last_reconcile = time.monotonic()
        if reply.match:
            return True
        log.warning("digest mismatch (%d local, %d on the hub): full pull", count, reply.hub_count)
        seen: set[str] = set()
        self.pull(since=0, seen=seen)
        self.store.drop_unseen(seen)
        return False
