"""Child process for the SIGKILL trials: write records (once) and sync until done.

``kill_worker.py FOLDER URL MARKER [HOLD_AT]``: with HOLD_AT the worker stops for good at that
point, prints ``AT <point>`` and waits to be killed there, so each kill lands where the test
wants it rather than wherever a random sleep happened to end:
- ``write``: after 20 of its records are written locally, before the rest;
- ``push``: right after the hub answered a push, before the results are recorded locally;
- ``upload``: while a blob upload is under way (some bytes on the hub, not all).
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from app.protocol.sync import DocType  # noqa: E402
from app.sync.errors import HubError  # noqa: E402
from tests.sync.hub_harness import make_client  # noqa: E402

WRITE_HOLD = 20


def hold(point: str) -> None:
    """Announce the point and never return (the test kills the process here)."""
    print(f"AT {point}", flush=True)
    threading.Event().wait()


def main() -> int:
    folder, url, marker = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    hold_at = sys.argv[4] if len(sys.argv) > 4 else ""
    client = make_client(folder, url, "doc1", stall_s=5, upload_streams=2)
    store = client.store
    if hold_at == "push":
        real_push = client.engine.client.push

        def push_then_hold(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            reply = real_push(*args, **kwargs)
            hold("push")
            return reply

        client.engine.client.push = push_then_hold  # type: ignore[method-assign]
    if hold_at == "upload":
        # Chunks small enough that a blob takes several requests, so there is a "mid-way"
        # (the crash-safety rule does not depend on the chunk size).
        client.engine.sizer.unverified_minimum = client.engine.sizer.unverified_maximum = 96_000
        real_progress = client.engine._on_upload_progress

        def progress_then_check(sha: str, done: int, total: int) -> None:
            real_progress(sha, done, total)
            if 0 < done < total:
                hold("upload")

        client.engine._on_upload_progress = progress_then_check  # type: ignore[method-assign]
    # Local writes continue across kills until 60 notes and 4 attachments exist; each write is
    # one transaction, so after a kill a record either exists or is written again now.
    mine = [d for d in store.list(include_deleted=True) if d.fields.get("marker") == marker]
    have = {(d.type.value, d.fields.get("idx")) for d in mine}
    patients = store.list(DocType.patient)
    patient = patients[0] if patients else store.create(DocType.patient, {"name": "杀进程测试"})
    written = len(mine)
    for i in range(60):
        if i % 15 == 0 and ("attachment", i) not in have:
            data = marker.encode() * 20_000 + str(i).encode()
            sha = client.blobs.add_bytes(data)
            store.create(
                DocType.attachment,
                {
                    "kind": "file",
                    "marker": marker,
                    "idx": i,
                    "blobs": [{"sha256": sha, "size": len(data)}],
                },
                patient_id=patient.id,
            )
            written += 1
        if ("note", i) not in have:
            store.create(
                DocType.note, {"text": f"n{i}", "marker": marker, "idx": i}, patient_id=patient.id
            )
            written += 1
        if hold_at == "write" and written >= WRITE_HOLD:
            hold("write")
    while True:
        try:
            client.engine.run_once()
            if not store.outbox_size():
                print("DONE", flush=True)
                return 0
        except HubError:
            time.sleep(0.05)


if __name__ == "__main__":
    raise SystemExit(main())
