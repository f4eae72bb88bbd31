"""The specialist pulls the patient's priors from the county PACS into the consultation: the
retrieved study (in the specialist's own DICOM inbox) becomes a "prior" attachment of the case,
the hub accepts it from the consulting side and the clinic receives it."""

from __future__ import annotations

from pathlib import Path

import pydicom

from app.protocol.sync import DocType
from tests.workflow.conftest import sign_in
from tests.workflow.test_refusals import _request

DEADLINE_MS = 150_000  # a deadline only, past the 60 s periodic pull should a sync hint be lost


def test_specialist_priors_reach_the_case_and_the_clinic(qtbot, tmp_path: Path, workflow_hub):
    from app.consult.workflow import take_action
    from app.dicom_net.inbox import Inbox
    from app.dicom_net.links import PURPOSE_PRIOR, attach_study
    from tests.support.ct_phantom import PhantomSpec, write_phantom

    cctx, clinic_user = sign_in(tmp_path / "c", workflow_hub.url, "clinic", start=False)
    clinic = cctx.services["sync"]
    pid, cid = _request(clinic, clinic_user, tmp_path)
    qtbot.waitUntil(lambda: clinic.engine.run_once() or clinic.store.outbox_size() == 0,
                    timeout=DEADLINE_MS)  # fmt: skip
    rctx, rad_user = sign_in(tmp_path / "r", workflow_hub.url, "radiologist", start=False)
    rad = rctx.services["sync"]
    qtbot.waitUntil(lambda: rad.engine.run_once() or rad.store.get(cid) is not None,
                    timeout=DEADLINE_MS)  # fmt: skip
    take_action(rad.store, cid, "accept", rad_user)

    # What C-MOVE/C-GET from the PACS leaves in the specialist's inbox (the retrieval itself
    # is tested against Orthanc in tests/dicom_net): the county's own patient ID.
    files = write_phantom(tmp_path / "prior", PhantomSpec(size=32, slices=3, patient_id="CNTY-889"))
    inbox = Inbox.open(tmp_path / "r" / "dicom-inbox")
    try:
        for f in files:
            inbox.add_instance(f.read_bytes(), "COUNTY_PACS@10.12.0.5")
        uid = str(pydicom.dcmread(files[0]).StudyInstanceUID)
        attach_study(inbox, rad, uid, pid, cid, PURPOSE_PRIOR)
    finally:
        inbox.close()
    qtbot.waitUntil(lambda: rad.engine.run_once() or rad.store.outbox_size() == 0,
                    timeout=DEADLINE_MS)  # fmt: skip

    def clinic_has_it() -> list:
        clinic.engine.run_once()
        return [
            d
            for d in clinic.store.list(DocType.attachment, consultation_id=cid)
            if d.fields.get("purpose") == PURPOSE_PRIOR
        ]

    qtbot.waitUntil(lambda: bool(clinic_has_it()), timeout=DEADLINE_MS)
    [prior] = clinic_has_it()
    assert prior.fields["study_uid"] == uid and prior.patient_id == pid
    assert len(prior.fields["blobs"]) == 3
