"""The Storage SCP in its own process, so a study arriving never competes with the window.

pynetdicom is pure Python: receiving in the GUI's process meant its association threads and
the GUI thread took turns on one interpreter lock. ``ReceiverProcess`` runs ``StorageReceiver``
in a spawned child (same code, same encrypted inbox files: SQLCipher in WAL mode is shared
between processes) and mirrors the child's progress into the parent's ``ReceiveActivity``
over a pipe, one small message per instance (its log lines too: the app's process alone writes
the log file and rotates it). The inbox keys go to the child over that pipe,
never on a command line or on disk. When the parent goes away the pipe closes and the child
stops; when the child dies, ``failure`` says so and the parent can restart it.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
import time
from pathlib import Path
from typing import Any

from app.dicom_net.activity import ReceiveActivity
from app.dicom_net.nodes import LocalNode

log = logging.getLogger(__name__)

START_TIMEOUT = 60.0  # spawning and importing pydicom/pynetdicom on a slow clinic PC
STOP_TIMEOUT = 10.0


class _PipeActivity:
    """The child's ``ReceiveActivity``: every call goes to the parent as a message."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self._lock = threading.Lock()  # association threads share the pipe

    def _send(self, *msg: Any) -> None:
        with self._lock:
            try:
                self._conn.send(msg)
            except OSError:  # the parent is gone; the main loop notices and stops
                pass

    def started(self, key: int, calling_ae: str, address: str) -> None:
        self._send("started", key, calling_ae, address)

    def stored(self, key: int, size: int, patient_name: str, study_uid: str) -> None:
        self._send("stored", key, size, patient_name, study_uid)

    def failed(self, key: int, reason: str) -> None:
        self._send("failed", key, reason)

    def ended(self, key: int, state: str) -> None:
        self._send("ended", key, state)

    def rejected(self, calling_ae: str, address: str, reason: str) -> None:
        self._send("rejected", calling_ae, address, reason)


class _PipeLogHandler(logging.Handler):
    """The child's log records go to the parent, which writes them to the app's log file
    (one process owns that file and its rotation)."""

    def __init__(self, pipe: _PipeActivity) -> None:
        super().__init__()
        self._pipe = pipe

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._pipe._send("log", record.levelno, record.name, record.getMessage())
        except Exception:  # noqa: BLE001 - logging must never break the receiver
            self.handleError(record)


def _child_main(node: LocalNode, folder: str, keys: tuple[bytes, bytes], conn: Any) -> None:
    """The receiver process: open the inbox, listen, serve until told to stop or orphaned."""
    pipe = _PipeActivity(conn)
    root = logging.getLogger()
    root.handlers[:] = [_PipeLogHandler(pipe)]
    root.setLevel(logging.INFO)
    # pynetdicom logs every request at INFO: costly at hundreds per second, and no news.
    logging.getLogger("pynetdicom").setLevel(logging.WARNING)
    from app.dicom_net.inbox import Inbox
    from app.dicom_net.receiver import StorageReceiver

    try:
        inbox = Inbox.open(Path(folder), keys=keys)
        inbox.recover()
        receiver = StorageReceiver(node, inbox, pipe)  # type: ignore[arg-type]
        port = receiver.start()
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which words it
        conn.send(("error", type(exc).__name__, str(exc)))
        return
    conn.send(("listening", port))
    try:
        while True:
            try:
                if conn.recv() == "stop":
                    break
            except (EOFError, OSError):  # the parent died: nobody to receive for
                break
    finally:
        receiver.stop()
        inbox.close()


def _relog(level: int, logger: str, message: str) -> None:
    logging.getLogger(logger).log(level, "[receiver process] %s", message)


class ReceiverProcess:
    """``StorageReceiver``'s interface (start/stop/port/running), served by a child process."""

    def __init__(
        self,
        node: LocalNode,
        folder: Path,
        keys: tuple[bytes, bytes],
        activity: ReceiveActivity | None = None,
    ) -> None:
        self.node = node
        self.folder = Path(folder)
        self._keys = keys
        self.activity = activity or ReceiveActivity()
        self.failure = ""  # why the child ended on its own ("" while fine)
        self._proc: Any = None
        self._conn: Any = None
        self._port = 0
        self._stopping = False
        self._reader: threading.Thread | None = None

    def start(self) -> int:
        """Spawn the child and wait until it listens (blocking: call on a worker)."""
        from app.dicom_net.receiver import ReceiverError

        ctx = multiprocessing.get_context("spawn")
        parent_conn, child_conn = ctx.Pipe()
        proc = ctx.Process(
            target=_child_main,
            args=(self.node, str(self.folder), self._keys, child_conn),
            name="yiqiao-dicom-receiver",
            daemon=True,
        )
        proc.start()
        child_conn.close()
        deadline = time.monotonic() + START_TIMEOUT
        try:
            while True:  # its log lines (inbox recovery) may come before the answer
                if not parent_conn.poll(max(0.0, deadline - time.monotonic())):
                    raise ReceiverError("the receiver process did not start in time")
                msg = parent_conn.recv()
                if msg[0] != "log":
                    break
                _relog(*msg[1:])
        except EOFError:
            proc.join(STOP_TIMEOUT)
            raise ReceiverError(
                f"the receiver process ended at start (exit code {proc.exitcode})"
            ) from None
        except ReceiverError:
            proc.kill()
            proc.join(STOP_TIMEOUT)
            raise
        if msg[0] != "listening":
            proc.join(STOP_TIMEOUT)
            raise ReceiverError(str(msg[2]))
        self._proc, self._conn, self._port = proc, parent_conn, int(msg[1])
        self._reader = threading.Thread(
            target=self._read, name="dicom-receiver-events", daemon=True
        )
        self._reader.start()
        return self._port

    def _read(self) -> None:
        """Mirror the child's progress into ``activity`` until the pipe closes."""
        conn, activity = self._conn, self.activity
        while True:
            try:
                name, *args = conn.recv()
            except (EOFError, OSError):
                break
            if name == "log":
                _relog(*args)
            else:
                getattr(activity, name)(*args)
        if not self._stopping:
            self.failure = f"the receiver process ended (exit code {self._proc.exitcode})"
            log.error("DICOM receiver: %s", self.failure)

    @property
    def port(self) -> int:
        return self._port if self.running else 0

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.is_alive() and not self.failure

    def stop(self) -> None:
        """Ask the child to stop (ends open associations), then make sure it is gone."""
        proc, conn = self._proc, self._conn
        if proc is None:
            return
        self._stopping = True
        try:
            conn.send("stop")
        except OSError:
            pass
        proc.join(STOP_TIMEOUT)
        if proc.is_alive():
            log.warning("DICOM receiver process did not stop; terminating it")
            proc.terminate()
            proc.join(STOP_TIMEOUT)
        if self._reader is not None:
            self._reader.join(STOP_TIMEOUT)
        conn.close()
        self._proc = self._conn = None
        self._port = 0
