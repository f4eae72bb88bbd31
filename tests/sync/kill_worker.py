"""Child process for the SIGKILL trials: write records (once) and sync until done."""

from __future__ import annotations

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
    # Local writes continue across kills until 60 notes and 4 attachments exist; each write is
    # one transaction, so after a kill a record either exists or is written again now.
    mine = [d for d in store.list(include_deleted=True) if d.fields.get("marker") == marker]
    have = {(d.type.value, d.fields.get("idx")) for d in mine}
    patients = store.list(DocType.patient)
    patient = patients[0] if patients else store.create(DocType.patient, {"name": "杀进程测试"})
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
        if ("note", i) not in have:
            store.create(
                DocType.note, {"text": f"n{i}", "marker": marker, "idx": i}, patient_id=patient.id
            )
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
