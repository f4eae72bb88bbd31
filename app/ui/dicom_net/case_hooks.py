"""What the case screen calls: attach a study received over the network, or pull priors from
the PACS, into one consultation. Kept here so the case screen needs two buttons, no more."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QCoreApplication
from PySide6.QtWidgets import QMessageBox, QWidget

from app.ui.bridge import run_in_worker
from app.ui.dicom_net.service import DicomNetService, dicom_service, install_dicom_net
from app.ui.dicom_net.wording import net_error_text


def _service(context: Any, parent: QWidget) -> DicomNetService:
    return dicom_service(context) or install_dicom_net(context, parent=parent)


def attach_received_study(
    parent: QWidget,
    context: Any,
    session: Any,
    patient_doc_id: str,
    patient_label: str,
    consultation_id: str,
    on_done: Callable[[], None] | None = None,
) -> None:
    """Pick a study from the DICOM inbox (this patient's first, then unmatched ones) and attach
    it to the consultation; an unmatched study is matched to the patient on the way."""
    from app.dicom_net.links import PURPOSE_RECEIVED, attach_study
    from app.ui.pages.dicom_network import PickDialog, dicom_date

    service = _service(context, parent)

    def offer(inbox: Any) -> None:
        def studies() -> list[Any]:
            rows = inbox.studies(session.profile)
            mine = [s for s in rows if s.matched_doc_id == patient_doc_id]
            return mine + [s for s in rows if not s.matched_doc_id]

        def pick(rows: list[Any]) -> None:
            if not rows:
                QMessageBox.information(parent, QCoreApplication.translate("DicomCaseHooks", "Attach received study"),
                                        QCoreApplication.translate("DicomCaseHooks", "No received study is waiting for this patient."))  # fmt: skip
                return
            entries = [
                (" · ".join(x for x in (dicom_date(s.study_date), s.modalities, s.patient_id,
                                        s.patient_name, s.source) if x), s)
                for s in rows
            ]  # fmt: skip
            dialog = PickDialog(
                QCoreApplication.translate("DicomCaseHooks", "Attach received study"),
                QCoreApplication.translate(
                    "DicomCaseHooks",
                    "Which study belongs to {name}? The received images are not changed.",
                ).format(name=patient_label),
                entries,
                parent,
            )
            if not dialog.exec() or dialog.chosen() is None:
                return
            study = dialog.chosen()

            def work() -> Any:
                if study.matched_doc_id != patient_doc_id:
                    inbox.set_match(study.study_uid, session.profile, patient_doc_id,
                                    patient_label, "manual")  # fmt: skip
                return attach_study(inbox, session, study.study_uid, patient_doc_id,
                                    consultation_id, PURPOSE_RECEIVED)  # fmt: skip

            def failed(exc: BaseException) -> None:
                QMessageBox.warning(
                    parent,
                    QCoreApplication.translate("DicomCaseHooks", "Attach received study"),
                    net_error_text(exc),
                )

            run_in_worker(work, on_done=lambda _d: on_done and on_done(), on_error=failed)

        run_in_worker(studies, on_done=pick)

    service.with_inbox(offer)


def pull_priors(
    parent: QWidget,
    context: Any,
    session: Any,
    patient_doc_id: str,
    patient_label: str,
    patient_number: str,
    consultation_id: str,
    on_done: Callable[[], None] | None = None,
) -> None:
    """Search the PACS for this patient; each retrieved study is attached as a prior."""
    from app.dicom_net.links import PURPOSE_PRIOR, attach_study
    from app.ui.dicom_net.query_dialog import QueryDialog

    service = _service(context, parent)

    def failed(exc: BaseException) -> None:
        QMessageBox.warning(
            parent, QCoreApplication.translate("DicomCaseHooks", "Pull priors"), net_error_text(exc)
        )

    def retrieved(study_uid: str) -> None:
        inbox = service.inbox
        if inbox is None:
            return

        def work() -> Any:
            inbox.set_match(study_uid, session.profile, patient_doc_id, patient_label, "prior")
            return attach_study(inbox, session, study_uid, patient_doc_id, consultation_id,
                                PURPOSE_PRIOR)  # fmt: skip

        run_in_worker(work, on_done=lambda _d: on_done and on_done(), on_error=failed)

    dialog = QueryDialog(service, patient_number, retrieved, parent)
    dialog.setWindowTitle(
        QCoreApplication.translate("DicomCaseHooks", "Pull priors for {name}").format(
            name=patient_label
        )
    )
    dialog.exec()
