"""The inbox after a power cut: an acknowledged instance whose index commit was lost is
listed again when the receiver next opens the inbox; a torn blob is set aside, never listed."""

from __future__ import annotations

from pathlib import Path

from app.dicom_net.inbox import Inbox
from tests.support.ct_phantom import PhantomSpec, write_phantom


def test_lost_index_rows_come_back_and_a_torn_blob_is_set_aside(tmp_path: Path) -> None:
    files = write_phantom(tmp_path / "src", PhantomSpec(size=32, slices=3, patient_id="PWR"))
    folder = tmp_path / "inbox"
    box = Inbox.open(folder)
    stored = [box.add_instance(f.read_bytes(), "CT@10.0.0.1") for f in files]
    # The power cut: the last two commits never reached the disk (their blobs did, synced
    # before the C-STORE success went out), and a third blob was cut off mid-write.
    with box.cache.transaction() as db:
        for s in stored[1:]:
            db.execute("DELETE FROM instances WHERE sop_uid = ?", (s.sop_uid,))
            db.execute("DELETE FROM blobs WHERE sha256 = ?", (s.sha256,))
    torn = box.blobs.path("ab" + "0" * 62)
    torn.parent.mkdir(exist_ok=True)
    torn.write_bytes(box.blobs.path(stored[0].sha256).read_bytes()[:100])
    (box.blobs.root / "partial" / "new-1-2").write_bytes(b"half")
    # On Windows the blob is synced under its temporary name and then renamed: a lost rename.
    last = box.blobs.path(stored[2].sha256)
    last.rename(box.blobs.root / "partial" / f"new-{stored[2].sha256}-7-8")
    box.close()

    box = Inbox.open(folder)
    try:
        assert box.recover() == 2
        assert last.exists()
        [study] = box.studies()
        assert study.patient_id == "PWR" and study.instance_count == 3
        listed = {row.sop_uid: box.read(row.sha256) for row in box.instances(study.study_uid)}
        assert listed == {s.sop_uid: f.read_bytes() for s, f in zip(stored, files, strict=True)}
        assert not torn.exists() and (box.blobs.root / "damaged" / torn.name).exists()
        assert not list((box.blobs.root / "partial").iterdir())
        assert box.recover() == 0  # nothing left to do
    finally:
        box.close()
