"""Problems and refusals in the user's language: one sentence per field or per hub reason.

The Qt-free side names what is wrong (``app.protocol.problems.Problem``: field, code,
params; ``HubError.code``: the hub's ``ErrorBody.error``; ``RejectReason`` for refused
pushes). This module only words them. Field labels come from the one table in
``app.ui.sync.field_labels``. See /work/wt/i18n-api.md (kept in docs/i18n.md too).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from pydantic import ValidationError
from PySide6.QtCore import QCoreApplication

from app.protocol.problems import HUB_ERROR_CODES, Problem, problems_from_validation
from app.ui.sync.field_labels import field_label, field_value


def label_for(path: str) -> str:
    """The translated label of a field path ("blobs.0.sha256" → the label of "blobs")."""
    if not path:
        return QCoreApplication.translate("Wording", "This record")
    label = field_label(path)
    if label != path:
        return label
    for part in path.split("."):
        if not part.isdigit():
            named = field_label(part)
            if named != part:
                return named
    return path


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _choices(field: str, allowed: Iterable[Any]) -> str:
    sep = QCoreApplication.translate("Wording", ", ")
    return sep.join(field_value(field, str(v)) or str(v) for v in allowed)


def _sentences() -> dict[str, Callable[[str, str, dict[str, Any]], str]]:
    """code → sentence builder(label, field, params). Translated at call time (lupdate reads the literal calls)."""
    return {
        "required": lambda label, _f, _p: QCoreApplication.translate(
            "Wording", "{label} must be filled in"
        ).format(label=label),
        "too_short": lambda label, _f, p: QCoreApplication.translate(
            "Wording", "{label} needs at least {min} characters"
        ).format(label=label, min=p.get("min", "")),
        "too_long": lambda label, _f, p: QCoreApplication.translate(
            "Wording", "{label} may have at most {max} characters"
        ).format(label=label, max=p.get("max", "")),
        "too_low": lambda label, _f, p: QCoreApplication.translate(
            "Wording", "{label} must be at least {min}"
        ).format(label=label, min=_number(p.get("min", ""))),
        "too_high": lambda label, _f, p: QCoreApplication.translate(
            "Wording", "{label} must be at most {max}"
        ).format(label=label, max=_number(p.get("max", ""))),
        "not_a_number": lambda label, _f, _p: QCoreApplication.translate(
            "Wording", "{label} must be a number"
        ).format(label=label),
        "not_whole_number": lambda label, _f, _p: QCoreApplication.translate(
            "Wording", "{label} must be a whole number"
        ).format(label=label),
        "not_true_false": lambda label, _f, _p: QCoreApplication.translate(
            "Wording", "{label} must be yes or no"
        ).format(label=label),
        "date_format": lambda label, _f, _p: QCoreApplication.translate(
            "Wording", "{label} must be written as year-month-day, e.g. 1965-03-15"
        ).format(label=label),
        "datetime_format": lambda label, _f, _p: QCoreApplication.translate(
            "Wording",
            "{label} must be written as year-month-day hour:minute, e.g. 2026-03-15 14:30",
        ).format(label=label),
        "choice": lambda label, f, p: (
            QCoreApplication.translate("Wording", "{label} must be one of: {choices}").format(
                label=label, choices=_choices(f, p["allowed"])
            )
            if p.get("allowed") and all(field_value(f, str(v)) for v in p["allowed"])
            else QCoreApplication.translate(
                "Wording", "{label}: choose one of the offered values"
            ).format(label=label)
        ),
        "pattern": lambda label, _f, _p: QCoreApplication.translate(
            "Wording", "{label} is not written in the expected form"
        ).format(label=label),
        "not_a_list": lambda label, _f, _p: QCoreApplication.translate(
            "Wording", "{label} must be a list"
        ).format(label=label),
        "invalid": lambda label, _f, _p: QCoreApplication.translate(
            "Wording", "{label} is not valid"
        ).format(label=label),
        "transition": lambda _label, _f, p: QCoreApplication.translate(
            "Wording", "A consultation cannot go from “{before}” to “{after}”"
        ).format(
            before=field_value("status", str(p.get("before", ""))) or p.get("before", ""),
            after=field_value("status", str(p.get("after", ""))) or p.get("after", ""),
        ),
        "bad_text": lambda label, _f, _p: QCoreApplication.translate(
            "Wording",
            "{label} contains characters that cannot be stored (e.g. invisible control "
            "characters); please retype it",
        ).format(label=label),
        "not_finite": lambda label, _f, _p: QCoreApplication.translate(
            "Wording", "{label} must be an ordinary number"
        ).format(label=label),
        "needs_patient": lambda _label, _f, _p: QCoreApplication.translate(
            "Wording", "This record must belong to a patient"
        ),
        "no_conflict": lambda _label, _f, _p: QCoreApplication.translate(
            "Wording", "This record has no conflict to resolve"
        ),
        "not_found": lambda _label, _f, _p: QCoreApplication.translate(
            "Wording", "This record no longer exists on this computer"
        ),
        **_workflow_sentences(),
    }


def _workflow_sentences() -> dict[str, Callable[[str, str, dict[str, Any]], str]]:
    """The consultation workflow's own codes (``problems.WORKFLOW_CODES``)."""
    return {
        "id_card_length": lambda label, _f, p: QCoreApplication.translate(
            "Wording", "{label} must have 18 characters (it has {length})"
        ).format(label=label, length=p.get("length", "?")),
        "id_card_format": lambda label, _f, _p: QCoreApplication.translate(
            "Wording", "{label} must be 17 digits followed by a digit or X"
        ).format(label=label),
        "id_card_checksum": lambda label, _f, _p: QCoreApplication.translate(
            "Wording",
            "{label} has a wrong check character — please check the number for a typing slip",
        ).format(label=label),
        "id_card_birth_date": lambda label, _f, _p: QCoreApplication.translate(
            "Wording", "{label} does not contain a real birth date (characters 7–14)"
        ).format(label=label),
        "id_card_birth_mismatch": lambda label, _f, p: QCoreApplication.translate(
            "Wording", "{label} differs from the birth date in the resident ID number ({from_id})"
        ).format(label=label, from_id=p.get("from_id", "")),
        "id_card_sex_mismatch": lambda label, _f, _p: QCoreApplication.translate(
            "Wording", "{label} differs from the sex in the resident ID number"
        ).format(label=label),
        "consent_required": lambda _label, _f, _p: QCoreApplication.translate(
            "Wording",
            "The patient's written informed consent (who, when and a photo or scan of the "
            "signed form) is needed before the request can be submitted",
        ),
        "icd10_format": lambda label, _f, _p: QCoreApplication.translate(
            "Wording", "{label} is not an ICD-10 code (for example I10 or E11.9)"
        ).format(label=label),
        "amendment_reason_required": lambda _label, _f, _p: QCoreApplication.translate(
            "Wording", "An amendment must say why the report is corrected"
        ),
    }


PROBLEM_CODES: tuple[str, ...] = (
    "required",
    "too_short",
    "too_long",
    "too_low",
    "too_high",
    "not_a_number",
    "not_whole_number",
    "not_true_false",
    "date_format",
    "datetime_format",
    "choice",
    "pattern",
    "not_a_list",
    "invalid",
    "bad_text",
    "not_finite",
    "transition",
    "needs_patient",
    "no_conflict",
    "not_found",
    "id_card_length",
    "id_card_format",
    "id_card_checksum",
    "id_card_birth_date",
    "id_card_birth_mismatch",
    "id_card_sex_mismatch",
    "consent_required",
    "icd10_format",
    "amendment_reason_required",
)
"""Every problem code this module words (others get the generic "is not valid")."""


def problem_text(problem: Problem) -> str:
    """One sentence for one problem, e.g. "出生日期格式应为 年-月-日，例如 1965-03-15"."""
    label = label_for(problem.field)
    build = _sentences().get(problem.code, _sentences()["invalid"])
    return build(label, problem.field.split(".")[0], dict(problem.params))


def problems_text(problems: Iterable[Problem]) -> str:
    """All problems, one sentence per line."""
    return "\n".join(problem_text(p) for p in problems)


def record_invalid_text(exc: BaseException) -> str:
    """A ``RecordInvalid`` in words (its problems, one per line)."""
    problems = getattr(exc, "problems", None) or [Problem("", "invalid")]
    return problems_text(problems)


def hub_reason_text(code: str) -> str:
    """The hub's refusal ``code`` (``ErrorBody.error``) as a sentence the user can act on."""
    table = {
        "invalid_credentials": QCoreApplication.translate("Wording", "Wrong username or password."),
        "account_disabled": QCoreApplication.translate(
            "Wording", "This account has been disabled. Ask your hospital's IT."
        ),
        "too_many_attempts": QCoreApplication.translate(
            "Wording", "Too many failed sign-ins. Wait a few minutes, then try again."
        ),
        "invalid_refresh_token": QCoreApplication.translate(
            "Wording", "Your sign-in has expired. Please sign in again."
        ),
        "invalid_token": QCoreApplication.translate(
            "Wording", "Your sign-in has expired. Please sign in again."
        ),
        "not_authenticated": QCoreApplication.translate(
            "Wording", "You are not signed in. Please sign in again."
        ),
        "unauthorized": QCoreApplication.translate(
            "Wording", "You are not signed in. Please sign in again."
        ),
        "invalid_request": QCoreApplication.translate(
            "Wording", "The hub could not accept what was sent (a field is not valid)."
        ),
        "invalid_data": QCoreApplication.translate(
            "Wording", "The hub could not store a value of this record."
        ),
        "invalid_text": QCoreApplication.translate(
            "Wording", "The text contains an invisible control character; remove it and retry."
        ),
        "invalid_number": QCoreApplication.translate(
            "Wording", "A number is not an ordinary number (NaN or infinity); correct it and retry."
        ),
        "unsupported_protocol": QCoreApplication.translate(
            "Wording", "This version of YiQiao does not match the hub. Ask IT to update YiQiao."
        ),
        "body_too_large": QCoreApplication.translate(
            "Wording", "Too much was sent at once; YiQiao will send it in smaller parts."
        ),
        "batch_too_large": QCoreApplication.translate(
            "Wording", "Too much was sent at once; YiQiao will send it in smaller parts."
        ),
        "bad_request": QCoreApplication.translate(
            "Wording", "The hub could not understand the request."
        ),
        "method_not_allowed": QCoreApplication.translate(
            "Wording", "The hub does not offer this function (check its version)."
        ),
        "not_acceptable": QCoreApplication.translate(
            "Wording", "The hub does not offer this function (check its version)."
        ),
        "length_required": QCoreApplication.translate(
            "Wording", "The hub could not understand the request."
        ),
        "precondition_failed": QCoreApplication.translate(
            "Wording", "The hub could not understand the request."
        ),
        "unsupported_media_type": QCoreApplication.translate(
            "Wording", "The hub does not accept this kind of file."
        ),
        "http_error": QCoreApplication.translate("Wording", "The hub refused the request."),
        "forbidden": QCoreApplication.translate("Wording", "You are not allowed to do this."),
        "not_found": QCoreApplication.translate(
            "Wording", "The hub does not have this (it may have been deleted)."
        ),
        "conflict": QCoreApplication.translate(
            "Wording", "Someone else changed this at the same time; look again and retry."
        ),
        "gone": QCoreApplication.translate("Wording", "This is no longer available on the hub."),
        "too_large": QCoreApplication.translate("Wording", "This is too large for the hub."),
        "too_many_requests": QCoreApplication.translate(
            "Wording", "The hub is busy. YiQiao will try again shortly."
        ),
        "blob_too_large": QCoreApplication.translate(
            "Wording", "This file is too large for the hub."
        ),
        "checksum_mismatch": QCoreApplication.translate(
            "Wording", "A file arrived damaged at the hub; YiQiao will send it again."
        ),
        "chunk_too_long": QCoreApplication.translate(
            "Wording", "A file upload was refused; YiQiao will send it again."
        ),
        "invalid_checksum": QCoreApplication.translate(
            "Wording", "A file arrived damaged at the hub; YiQiao will send it again."
        ),
        "invalid_metadata": QCoreApplication.translate(
            "Wording", "A file upload was refused; YiQiao will send it again."
        ),
        "offset_mismatch": QCoreApplication.translate(
            "Wording", "A file upload got out of step; YiQiao will resume it."
        ),
        "quota_exceeded": QCoreApplication.translate(
            "Wording", "The hub has no room left for your files. Ask IT."
        ),
        "range_not_satisfiable": QCoreApplication.translate(
            "Wording", "A file download got out of step; YiQiao will retry."
        ),
        "unsupported_checksum": QCoreApplication.translate(
            "Wording", "This version of YiQiao does not match the hub. Ask IT to update YiQiao."
        ),
        "unsupported_tus_version": QCoreApplication.translate(
            "Wording", "This version of YiQiao does not match the hub. Ask IT to update YiQiao."
        ),
        "upload_complete": QCoreApplication.translate(
            "Wording", "This file is already complete on the hub."
        ),
        "upload_busy": QCoreApplication.translate(
            "Wording", "A file upload is still in progress; YiQiao will resume it."
        ),
        "upload_expired": QCoreApplication.translate(
            "Wording", "An unfinished upload expired; YiQiao will start it again."
        ),
        "wrong_content_type": QCoreApplication.translate(
            "Wording", "A file upload was refused; YiQiao will send it again."
        ),
        "internal_error": QCoreApplication.translate(
            "Wording", "The hub had an internal problem. YiQiao will try again."
        ),
        "ambiguous_length": QCoreApplication.translate(
            "Wording",
            "The request reached the hub garbled (a proxy in between?). YiQiao will retry.",
        ),
        "invalid_header": QCoreApplication.translate(
            "Wording", "The request reached the hub with a damaged header. YiQiao will retry."
        ),
        "missing_tus_version": QCoreApplication.translate(
            "Wording", "A file upload was refused by the hub; YiQiao will send it again."
        ),
        "request_timeout": QCoreApplication.translate(
            "Wording", "The network was too slow for the hub to wait. YiQiao will try again."
        ),
        "document_damaged": QCoreApplication.translate(
            "Wording", "This record is damaged on the hub. Ask IT to check the hub."
        ),
    }
    return table.get(code, QCoreApplication.translate("Wording", "The hub refused the request."))


def reject_reason_text(reason: str) -> str:
    """Why the hub refused one pushed record (``RejectReason``), in words."""
    table = {
        "forbidden": QCoreApplication.translate(
            "Wording", "You are not allowed to change this record."
        ),
        "invalid": QCoreApplication.translate("Wording", "The hub found this record not valid."),
        "invalid_transition": QCoreApplication.translate(
            "Wording", "The consultation cannot move to this status."
        ),
        "unknown_base_rev": QCoreApplication.translate(
            "Wording", "This record was edited from a version the hub does not know."
        ),
        "already_exists": QCoreApplication.translate(
            "Wording", "A different record with the same identity is already on the hub."
        ),
        "not_found": QCoreApplication.translate("Wording", "The hub no longer has this record."),
        "type_mismatch": QCoreApplication.translate(
            "Wording", "A different kind of record with the same identity is on the hub."
        ),
        "scope_change": QCoreApplication.translate(
            "Wording", "A record cannot be moved to another patient or hospital."
        ),
        "missing_blob": QCoreApplication.translate(
            "Wording", "A file of this record has not reached the hub yet."
        ),
        "too_large": QCoreApplication.translate("Wording", "This record is too large for the hub."),
        "duplicate_in_batch": QCoreApplication.translate(
            "Wording", "This change was sent twice at once."
        ),
    }
    return table.get(reason, QCoreApplication.translate("Wording", "The hub refused this record."))


def hub_error_text(exc: BaseException) -> str:
    """Any ``HubError`` in words: the hub's reason when it gave one, else the kind of failure."""
    from app.sync import errors  # Qt-free; imported here so the module loads without sync

    code = getattr(exc, "code", "")
    if isinstance(exc, errors.TlsUntrusted):
        return QCoreApplication.translate(
            "Wording",
            "The hub's security certificate is not trusted. Ask IT to check the CA "
            "certificate setting.",
        )
    if isinstance(exc, errors.HubOffline):
        return QCoreApplication.translate(
            "Wording", "Cannot reach the hub. Check the network connection and try again."
        )
    problems = getattr(exc, "problems", None)
    if problems:
        return hub_problems_text(problems)
    if code in HUB_ERROR_CODES:
        return hub_reason_text(code)
    if isinstance(exc, errors.LoginRefused):
        return QCoreApplication.translate(
            "Wording", "The hub refused the sign-in. Please sign in again."
        )
    if isinstance(exc, errors.HubBadReply):
        return QCoreApplication.translate(
            "Wording", "The hub's reply could not be understood. YiQiao will try again."
        )
    if isinstance(exc, errors.HubServerError):
        return QCoreApplication.translate(
            "Wording", "The hub had an internal problem. YiQiao will try again."
        )
    return hub_reason_text(code)


def hub_problems_text(problems: Iterable[Problem]) -> str:
    """The hub's per-field refusal (a 422's ``ErrorBody.problems``), one sentence per field.
    A field the user never types (ids, revisions) is named as "this record"."""
    lines = [QCoreApplication.translate("Wording", "The hub did not accept what was entered:")]
    for p in problems:
        field = p.field if _has_label(p.field) else ""
        lines.append(problem_text(Problem(field, p.code, dict(p.params))))
    return "\n".join(lines)


def _has_label(path: str) -> bool:
    return bool(path) and label_for(path) != path


def error_text(exc: BaseException) -> str:
    """Whatever went wrong, as sentences for a message box (details go to the log)."""
    from app.protocol.records import RecordInvalid
    from app.sync.errors import HubError

    if isinstance(exc, RecordInvalid):
        return record_invalid_text(exc)
    if isinstance(exc, HubError):
        return hub_error_text(exc)
    if isinstance(exc, ValidationError):  # a request checked before it is sent (sign-in)
        return problems_text(problems_from_validation(exc))
    if isinstance(exc, PermissionError):
        return QCoreApplication.translate(
            "Wording", "YiQiao may not write here. Check the folder's permissions."
        )
    if isinstance(exc, OSError):
        return QCoreApplication.translate(
            "Wording", "A file could not be read or written (disk full or removed?)."
        )
    return QCoreApplication.translate(
        "Wording", "Something went wrong; the details are in the log."
    )


def notice_text(notice: object) -> str:
    """A ``app.sync.recovery.Notice`` about the local records, as a banner sentence."""
    code = getattr(notice, "code", "")
    p = dict(getattr(notice, "params", {}) or {})
    kept = p.get("kept", "")
    if code == "cache_set_aside":
        if p.get("reason") == "damaged":
            return QCoreApplication.translate(
                "Wording",
                "The local records file is damaged. It was kept as {kept}; a fresh copy is "
                "being downloaded from the hub.",
            ).format(kept=kept)
        if p.get("reason") == "too_new":
            return QCoreApplication.translate(
                "Wording",
                "The local records file was written by a newer version of YiQiao. It was kept "
                "as {kept}; a fresh copy is being downloaded from the hub.",
            ).format(kept=kept)
        return QCoreApplication.translate(
            "Wording",
            "The local records file could not be opened with this computer's key (the "
            "system keyring may have been reset). It was kept as {kept}; a fresh copy is "
            "being downloaded from the hub.",
        ).format(kept=kept)
    if code == "recovering":
        return QCoreApplication.translate(
            "Wording",
            "Unsent work from that file was unlocked with your password: {docs} changes and "
            "{files} files are being sent to the hub now.",
        ).format(docs=p.get("docs", 0), files=p.get("files", 0))
    if code == "recovered":
        text = QCoreApplication.translate(
            "Wording",
            "All unsent work from the unreadable records file has reached the hub "
            "({docs} changes, {files} files).",
        ).format(docs=p.get("docs", 0), files=p.get("files", 0))
        if p.get("refused"):
            text += QCoreApplication.translate(
                "Wording", " The hub refused {n} of them; IT can find them in the log."
            ).format(n=p["refused"])
        return text
    if code == "recovery_wrong_password":
        return QCoreApplication.translate(
            "Wording",
            "Unsent work in {kept} is locked with an earlier password (the computer's key "
            "was lost and your password has been changed since). Nothing has been deleted: "
            "choose “Enter earlier password…” to send it to the hub. If nobody remembers "
            "that password, keep the file; it can be opened whenever it is remembered.",
        ).format(kept=kept)
    if code == "recovery_no_key":
        return QCoreApplication.translate(
            "Wording",
            "Unsent work in {kept} cannot be opened on this computer (it has no "
            "password-protected copy of its key). The file is kept; ask IT for help.",
        ).format(kept=kept)
    if code == "blob_key_restored":
        return QCoreApplication.translate(
            "Wording",
            "This computer had lost the key to your attached files; it was restored from the "
            "copy protected by your password. Nothing was lost.",
        )
    if code == "blob_key_lost":
        return blob_key_lost_text(p)
    if code == "blob_files_restored":
        return QCoreApplication.translate(
            "Wording",
            "{files} attached files kept after the key was lost were opened with your "
            "password; they are being sent to the hub now.",
        ).format(files=p.get("files", 0))
    return QCoreApplication.translate(
        "Wording", "Something went wrong; the details are in the log."
    )


def _waiting_file(item: Any) -> str:
    if not isinstance(item, dict):
        return str(item)
    if item.get("patient"):
        return QCoreApplication.translate("Wording", "{title} ({patient})").format(
            title=item.get("title", ""), patient=item["patient"]
        )
    return str(item.get("title", ""))


def blob_key_lost_text(p: dict[str, Any]) -> str:
    """The blob key was lost: what happened, which files wait, what the user can do."""
    waiting = [_waiting_file(w) for w in p.get("waiting") or []]
    text = QCoreApplication.translate(
        "Wording",
        "This computer has lost the key to the attached files stored here (the system "
        "keyring may have been reset). Nothing was deleted: the files were kept in {kept}.",
    ).format(kept=p.get("kept", ""))
    if p.get("on_hub"):
        text += QCoreApplication.translate(
            "Wording", " {n} of them are on the hub and will be downloaded again when opened."
        ).format(n=p["on_hub"])
    if waiting:
        shown = QCoreApplication.translate("Wording", ", ").join(waiting[:10])
        if len(waiting) > 10:
            shown += QCoreApplication.translate("Wording", " and {n} more").format(
                n=len(waiting) - 10
            )
        text += QCoreApplication.translate(
            "Wording",
            " Not yet sent to the hub, and waiting for your password: {files}. Sign in with "
            "your password (or choose “Enter earlier password…” if it has been changed) to "
            "send them.",
        ).format(files=shown)
    return text


_KEPT_SAMPLE = "/home/doctor/.local/share/YiQiao/profiles/doc1/cache.db.unreadable-20260101-120000"

NOTICE_CODES: tuple[tuple[str, dict[str, object]], ...] = (
    ("cache_set_aside", {"reason": "key_wrong", "kept": _KEPT_SAMPLE}),
    ("cache_set_aside", {"reason": "damaged", "kept": _KEPT_SAMPLE}),
    ("cache_set_aside", {"reason": "too_new", "kept": _KEPT_SAMPLE}),
    ("recovering", {"docs": 3, "files": 1}),
    ("recovered", {"docs": 3, "files": 1, "refused": 1}),
    ("recovery_wrong_password", {"kept": _KEPT_SAMPLE}),
    ("recovery_no_key", {"kept": _KEPT_SAMPLE}),
    ("blob_key_restored", {}),
    (
        "blob_key_lost",
        {
            "kept": _KEPT_SAMPLE,
            "waiting": [
                {"patient": "李秀英", "title": "心电图照片"},
                {"patient": "", "title": "胸片"},
            ],
            "on_hub": 2,
        },
    ),
    ("blob_files_restored", {"files": 2}),
)
"""Every notice the sync session can raise, with sample params (the zh_CN walk uses them)."""


def session_failure_text(exc: BaseException) -> str:
    """Why the local records could not be opened at sign-in, in words."""
    from app import credentials
    from app.sync.cache import CacheOpenError

    if isinstance(exc, credentials.KeyringUnavailable):
        return QCoreApplication.translate(
            "Wording",
            "This computer has no secure credential store, so the local records cannot be "
            "opened. Ask IT to enable the system keyring.",
        )
    if isinstance(exc, CacheOpenError):
        return QCoreApplication.translate(
            "Wording",
            "The local records could not be opened, even afresh. The files are kept; ask IT "
            "for help.",
        )
    return error_text(exc)
