"""Child process for the SIGKILL trials: write records (once) and sync until done."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from app.protocol.sync import DocType  # noqa: E402
from app.sync.errors import HubError  # noqa: E402
from tests.sync.hub_harness import make_client  # noqa: E402


def main() -> int:
    folder, url, marker = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    client = make_client(folder, url, "doc1", stall_s=5, upload_streams=2)
    store = client.store
    # Local writes continue across kills: each run adds records until 60 exist.
    existing = [d for d in store.list(DocType.note) if d.fields.get("marker") == marker]
    patients = store.list(DocType.patient)
    patient = patients[0] if patients else store.create(DocType.patient, {"name": "杀进程测试"})
    for i in range(len(existing), 60):
        store.create(DocType.note, {"text": f"n{i}", "marker": marker}, patient_id=patient.id)
        if i % 15 == 0:
            sha = client.blobs.add_bytes(os.urandom(300_000) + marker.encode())
            store.create(DocType.attachment, {"kind": "file", "marker": marker,
                         "blobs": [{"sha256": sha, "size": 300_000 + len(marker)}]}, patient_id=patient.id)
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
