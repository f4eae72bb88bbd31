"""Registering a patient: the form's state, what the resident ID number says, the problems to
show, and likely duplicates to offer before saving. Qt-free (tests drive it directly)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.protocol import resident_id
from app.protocol.problems import FieldProblem
from app.protocol.records import record_problems
from app.protocol.sync import DocType

FORM_FIELDS = (
    "name",
    "sex",
    "birth_date",
    "id_card",
    "phone",
    "address",
    "allergies",
    "chronic_conditions",
    "patient_number",
)


@dataclass
class Duplicate:
    """An existing patient who is probably the same person, and why we think so."""

    doc_id: str
    fields: dict[str, Any]
    same_id_card: bool


@dataclass
class PatientForm:
    """The registration form (also used to edit an existing patient: ``doc_id`` set)."""

    values: dict[str, Any] = field(default_factory=lambda: {"sex": "U"})
    doc_id: str | None = None
    derived: dict[str, str] = field(default_factory=dict)  # from the resident ID number

    def set(self, key: str, value: Any) -> None:
        """Change one field; a complete, valid resident ID fills in birth date and sex when
        those are still empty (it never overwrites what the doctor typed: a difference is
        shown as a problem instead)."""
        self.values[key] = value.strip() if isinstance(value, str) else value
        if key == "id_card":
            self.derived = {}
            try:
                rid = resident_id.parse(str(value or ""))
            except ValueError:
                return
            self.values["id_card"] = rid.number
            self.derived = {"birth_date": rid.birth_date, "sex": rid.sex}
            if not self.values.get("birth_date"):
                self.values["birth_date"] = rid.birth_date
            if self.values.get("sex") in (None, "", "U"):
                self.values["sex"] = rid.sex

    def fields(self) -> dict[str, Any]:
        """What is saved (pinyin initials added for search on other devices)."""
        out = {k: self.values.get(k, "") for k in FORM_FIELDS}
        out["sex"] = out["sex"] or "U"
        from app.ui.workflow.patient_search import pinyin_keys

        initials, _ = pinyin_keys(str(out["name"]))
        out["name_initials"] = sorted(initials)[0] if initials else ""
        return out

    def problems(self) -> list[FieldProblem]:
        """Everything wrong, per field, in the record schema's terms."""
        return record_problems(DocType.patient, self.fields())

    def duplicates(self, patients: list[tuple[str, dict[str, Any]]]) -> list[Duplicate]:
        """Existing patients with the same resident ID, or the same name and birth date."""
        mine = self.fields()
        rid = str(mine.get("id_card") or "").upper()
        name = str(mine.get("name") or "").strip()
        born = str(mine.get("birth_date") or "")
        out = []
        for doc_id, other in patients:
            if doc_id == self.doc_id:
                continue
            same_id = bool(rid) and str(other.get("id_card") or "").upper() == rid
            same_person = (
                bool(name and born)
                and str(other.get("name") or "").strip() == name
                and str(other.get("birth_date") or "") == born
            )
            if same_id or same_person:
                out.append(Duplicate(doc_id, other, same_id))
        out.sort(key=lambda d: not d.same_id_card)
        return out
