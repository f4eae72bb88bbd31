"""The specialist's report (会诊意见书): writing it, signing it (then it never changes), and
correcting a signed one by an amendment — a new version naming the old one and why. Qt-free;
the store calls block, so run them on a worker."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.protocol.problems import FieldProblem
from app.protocol.records import record_problems, report_content_hash
from app.protocol.sync import DocType

CONTENT_FIELDS = ("findings", "diagnosis_name", "diagnosis_code", "opinion", "follow_up")


class ReportSealed(ValueError):
    """A signed report cannot change (``code`` as the hub says it)."""

    code = "immutable"


@dataclass
class ReportForm:
    """A report being written for one consultation (``report_id`` once saved)."""

    consultation_id: str
    patient_id: str
    report_id: str | None = None
    values: dict[str, Any] = field(default_factory=lambda: {"referral": {"kind": "none"}})
    version: int = 1
    amends: str = ""
    amendment_reason: str = ""

    @classmethod
    def from_doc(cls, doc: Any) -> ReportForm:
        if doc.fields.get("signed"):
            raise ReportSealed("a signed report cannot be edited")
        values = {k: doc.fields.get(k, "") for k in CONTENT_FIELDS}
        values["referral"] = dict(doc.fields.get("referral") or {"kind": "none"})
        return cls(
            str(doc.consultation_id),
            str(doc.patient_id),
            str(doc.id),
            values,
            int(doc.fields.get("version", 1)),
            str(doc.fields.get("amends", "")),
            str(doc.fields.get("amendment_reason", "")),
        )

    @classmethod
    def amendment_of(cls, signed: Any, reason: str = "") -> ReportForm:
        """A new version starting from a signed report's content."""
        from app.consult.reports import amend

        fields = amend(signed.fields, str(signed.id), reason)
        values = {k: fields.get(k, "") for k in CONTENT_FIELDS}
        values["referral"] = dict(fields.get("referral") or {"kind": "none"})
        return cls(
            str(signed.consultation_id),
            str(signed.patient_id),
            None,
            values,
            int(fields["version"]),
            str(fields["amends"]),
            reason,
        )

    def set(self, key: str, value: Any) -> None:
        self.values[key] = value

    def set_referral(self, **parts: Any) -> None:
        self.values["referral"] = {**(self.values.get("referral") or {}), **parts}

    def fields(self) -> dict[str, Any]:
        out = {k: self.values.get(k, "") for k in CONTENT_FIELDS}
        out["referral"] = dict(self.values.get("referral") or {"kind": "none"})
        out["version"] = self.version
        out["signed"] = False
        if self.amends:
            out["amends"] = self.amends
            out["amendment_reason"] = self.amendment_reason
        return out

    def problems(self) -> list[FieldProblem]:
        """What stops signing: an opinion, a valid code, an amendment's reason."""
        problems = []
        if not str(self.values.get("opinion", "")).strip():
            problems.append(FieldProblem(field="opinion", code="required"))
        if self.amends and not self.amendment_reason.strip():
            problems.append(FieldProblem(field="amendment_reason", code="required"))
        referral = self.values.get("referral") or {}
        if referral.get("kind") == "refer_up" and not referral.get("facility_name"):
            problems.append(FieldProblem(field="referral", code="required"))
        if referral.get("kind") == "local" and not str(referral.get("plan", "")).strip():
            problems.append(FieldProblem(field="follow_up", code="required"))
        seen = {(p.field, p.code) for p in problems}
        problems += [
            p
            for p in record_problems(DocType.report, self.fields())
            if (p.field, p.code) not in seen
        ]
        return problems

    def save(self, store: Any) -> Any:
        """Save the unsigned draft (refused once the report is signed)."""
        if self.report_id is None:
            doc = store.create(
                DocType.report,
                self.fields(),
                patient_id=self.patient_id,
                consultation_id=self.consultation_id,
            )
            self.report_id = str(doc.id)
            return doc
        current = store.get(self.report_id)
        if current is not None and current.fields.get("signed"):
            raise ReportSealed("a signed report cannot be edited")
        return store.update(self.report_id, self.fields())

    def sign(self, store: Any, user: Any, now: str | None = None) -> Any:
        """Save and sign: signer, time and the content's hash are sealed into the record."""
        from app.consult.reports import sign

        self.save(store)
        return store.update(self.report_id, sign(self.fields(), user, now))


def verify(doc: Any) -> bool:
    """True when a signed report's content still matches its hash."""
    fields = dict(doc.fields)
    return (
        bool(fields.get("content_hash")) and report_content_hash(fields) == fields["content_hash"]
    )


def edit_signed(store: Any, doc: Any, changes: dict[str, Any]) -> Any:
    """Any direct edit of a signed report is refused here already (the hub refuses it too)."""
    if doc.fields.get("signed"):
        raise ReportSealed("a signed report cannot be edited")
    return store.update(doc.id, changes)
