"""A consultation report as PDF through Qt's own PDF writer (QPdfWriter + QTextDocument).

QtGui only (no widgets), so it runs on a worker thread once a QGuiApplication exists.
Layout: facility header, patient banner (name, sex, age, ID), the request's essentials, every
report section, signer with title, facility and time, the content hash, amendment notes, and
"page N / M" at the foot of every page. Chinese or English labels (``language``: "zh_CN" or
"en"), independent of the UI's language so a clinic can print either.

A CJK font is embedded: Qt subsets and embeds the TrueType font used. The font is WenQuanYi
Micro Hei (Debian ``fonts-wqy-microhei``, Apache-2.0 or GPL-3+ with font exception — the
Apache-2.0 option allows shipping it): looked for in ``resources/fonts`` (the packaged app)
and the system's font folders; without it the PDF is still written with whatever font Qt
has, and :func:`cjk_font_file` says None.
"""

from __future__ import annotations

import html
from datetime import date, datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QMarginsF, QRectF, QSizeF, Qt
from PySide6.QtGui import (
    QAbstractTextDocumentLayout,
    QFont,
    QFontDatabase,
    QPageLayout,
    QPageSize,
    QPainter,
    QPdfWriter,
    QTextDocument,
)

FONT_FILES = ("wqy-microhei.ttc", "wqy-microhei.ttf")
_SYSTEM_FONT_DIRS = (
    "/usr/share/fonts/truetype/wqy",
    "/usr/share/fonts/wqy-microhei",
    "/usr/local/share/fonts",
)
_family: str | None = None
_font_path: Path | None = None

LABELS: dict[str, dict[str, str]] = {
    "title": {"zh_CN": "远程会诊意见书", "en": "Remote consultation report"},
    "amended": {"zh_CN": "更正版", "en": "Amended version"},
    "patient": {"zh_CN": "患者", "en": "Patient"},
    "sex": {"zh_CN": "性别", "en": "Sex"},
    "age": {"zh_CN": "年龄", "en": "Age"},
    "id_card": {"zh_CN": "身份证号", "en": "Resident ID"},
    "patient_number": {"zh_CN": "门诊号", "en": "Patient No."},
    "requesting": {"zh_CN": "申请机构", "en": "Requesting facility"},
    "consulting": {"zh_CN": "会诊机构", "en": "Consulting facility"},
    "type": {"zh_CN": "会诊类型", "en": "Consultation type"},
    "purpose": {"zh_CN": "会诊目的", "en": "Purpose"},
    "reason": {"zh_CN": "会诊原因", "en": "Reason"},
    "case_summary": {"zh_CN": "病历摘要", "en": "Case summary"},
    "prelim": {"zh_CN": "初步诊断", "en": "Preliminary diagnosis"},
    "findings": {"zh_CN": "检查所见", "en": "Findings"},
    "diagnosis": {"zh_CN": "诊断", "en": "Diagnosis"},
    "opinion": {"zh_CN": "会诊意见", "en": "Opinion and advice"},
    "follow_up": {"zh_CN": "随访", "en": "Follow-up"},
    "referral": {"zh_CN": "转诊建议", "en": "Referral"},
    "signed_by": {"zh_CN": "会诊医师", "en": "Signed by"},
    "signed_at": {"zh_CN": "签署时间", "en": "Signed at"},
    "hash": {"zh_CN": "内容校验 (SHA-256)", "en": "Content hash (SHA-256)"},
    "amends": {"zh_CN": "更正原因", "en": "Reason for amendment"},
    "unsigned": {"zh_CN": "草稿（未签署）", "en": "Draft (not signed)"},
    "coview": {"zh_CN": "共享阅片的标注与测量", "en": "Annotations and measurements from the call"},
    "coview_note": {
        "zh_CN": "通话中双方在影像上的标注与测量，已存为 DICOM 显示状态（GSPS）和测量报告（SR），"
        "作为会诊附件同步：",
        "en": "The marks and measurements both sides drew on the images during the call, saved "
        "as DICOM presentation states (GSPS) and a measurement report (SR) among the "
        "consultation's attachments:",
    },
    "page": {"zh_CN": "第 {n} 页 / 共 {m} 页", "en": "Page {n} of {m}"},
    "note": {
        "zh_CN": "本意见供申请医师参考，诊疗决定由申请医疗机构作出。",
        "en": "This opinion advises the requesting doctor; treatment decisions stay with "
        "the requesting facility.",
    },
    "M": {"zh_CN": "男", "en": "male"},
    "F": {"zh_CN": "女", "en": "female"},
    "O": {"zh_CN": "其他", "en": "other"},
    "U": {"zh_CN": "未知", "en": "unknown"},
    "video": {"zh_CN": "视频会诊", "en": "Video consultation"},
    "imaging": {"zh_CN": "远程影像诊断", "en": "Imaging diagnosis"},
    "ecg": {"zh_CN": "远程心电诊断", "en": "ECG diagnosis"},
    "none": {"zh_CN": "无需转诊", "en": "No referral"},
    "refer_up": {"zh_CN": "建议上转", "en": "Refer up to"},
    "local": {"zh_CN": "基层管理", "en": "Manage locally"},
    "years": {"zh_CN": "{n} 岁", "en": "{n} y"},
}


def _t(key: str, language: str, **kw: Any) -> str:
    text = LABELS[key].get(language) or LABELS[key]["en"]
    return text.format(**kw) if kw else text


def cjk_font_file() -> Path | None:
    """The CJK font file the PDF embeds (None when none was found)."""
    _ensure_font()
    return _font_path


def _ensure_font() -> str | None:
    global _family, _font_path
    if _family is not None:
        return _family or None
    from app import paths

    dirs = [paths.resources_dir() / "fonts", *map(Path, _SYSTEM_FONT_DIRS)]
    for folder in dirs:
        for name in FONT_FILES:
            path = folder / name
            if path.is_file():
                font_id = QFontDatabase.addApplicationFont(str(path))
                families = QFontDatabase.applicationFontFamilies(font_id) if font_id >= 0 else []
                if families:
                    _family, _font_path = families[0], path
                    return _family
    _family = ""
    return None


def _age(birth: str) -> str:
    try:
        born = date.fromisoformat(birth)
    except (TypeError, ValueError):
        return ""
    today = date.today()
    return str(today.year - born.year - ((today.month, today.day) < (born.month, born.day)))


def _time(ts: str) -> str:
    try:
        return datetime.fromisoformat(ts).strftime("%Y-%m-%d %H:%M")
    except (TypeError, ValueError):
        return ts


def _p(text: str) -> str:
    return html.escape(text).replace("\n", "<br/>")


def report_html(
    report: dict[str, Any],
    consultation: dict[str, Any],
    patient: dict[str, Any],
    requesting_facility: str,
    consulting_facility: str,
    language: str = "zh_CN",
    image_objects: list[str] | None = None,
) -> str:
    """The report as the HTML QTextDocument lays out (also useful to preview).
    ``image_objects``: file names of the DICOM objects co-viewing saved into the consultation."""
    lang = language if language in ("zh_CN", "en") else "en"

    def t(key: str, **kw: Any) -> str:
        return html.escape(_t(key, lang, **kw))

    sex = patient.get("sex", "U")
    age = _age(str(patient.get("birth_date", "")))
    banner = [
        f"<b>{t('patient')}</b>: <b>{_p(str(patient.get('name', '')))}</b>",
        f"{t('sex')}: {t(sex if sex in LABELS else 'U')}",
        f"{t('age')}: {t('years', n=age)}" if age else "",
        f"{t('id_card')}: {_p(str(patient.get('id_card', '')))}" if patient.get("id_card") else "",
        f"{t('patient_number')}: {_p(str(patient.get('patient_number', '')))}"
        if patient.get("patient_number")
        else "",
    ]
    parts = [
        f"<p align='center' style='font-size:15pt'><b>{_p(consulting_facility)}</b></p>",
        f"<p align='center' style='font-size:13pt'>{t('title')}"
        + (f" · {t('amended')} v{int(report.get('version') or 1)}" if report.get("amends") else "")
        + "</p>",
        "<table width='100%' border='1' cellspacing='0' cellpadding='4'><tr><td>"
        + " &nbsp; ".join(b for b in banner if b)
        + "</td></tr></table>",
        f"<p>{t('requesting')}: {_p(requesting_facility)} &nbsp; {t('consulting')}: "
        f"{_p(consulting_facility)} &nbsp; {t('type')}: "
        f"{t(consultation.get('consultation_type', 'video') if consultation.get('consultation_type') in LABELS else 'video')}</p>",
    ]

    def section(label: str, text: str) -> None:
        if text.strip():
            parts.append(f"<h3>{t(label)}</h3><p>{_p(text)}</p>")

    section("purpose", str(consultation.get("purpose", "")))
    section("reason", str(consultation.get("reason", "")))
    section("case_summary", str(consultation.get("case_summary", "")))
    prelim = " ".join(
        x
        for x in (consultation.get("diagnosis_name", ""), consultation.get("diagnosis_code", ""))
        if x
    )
    section("prelim", prelim)
    section("findings", str(report.get("findings", "") or report.get("text", "")))
    diagnosis = " ".join(
        x for x in (report.get("diagnosis_name", ""), report.get("diagnosis_code", "")) if x
    )
    section("diagnosis", diagnosis)
    section("opinion", str(report.get("opinion", "") or report.get("conclusion", "")))
    section("follow_up", str(report.get("follow_up", "")))
    referral = report.get("referral") or {}
    kind = referral.get("kind", "none")
    if kind in ("refer_up", "local", "none") and (kind != "none" or report.get("signed")):
        detail = {
            "refer_up": " ".join(
                x for x in (referral.get("facility_name", ""), referral.get("department", "")) if x
            ),
            "local": referral.get("plan", ""),
            "none": "",
        }[kind]
        parts.append(f"<h3>{t('referral')}</h3><p>{t(kind)} {_p(str(detail))}</p>")
    if image_objects:
        parts.append(
            f"<h3>{t('coview')}</h3><p>{t('coview_note')} "
            + _p("、".join(image_objects) if lang == "zh_CN" else ", ".join(image_objects))
            + "</p>"
        )
    if report.get("amends"):
        section("amends", str(report.get("amendment_reason", "")))
    signer = report.get("signer") or {}
    if report.get("signed"):
        who = " ".join(
            str(x) for x in (signer.get("name"), signer.get("title"), signer.get("department")) if x
        )
        parts.append(
            "<hr/><p>"
            f"{t('signed_by')}: <b>{_p(who)}</b> · {_p(str(signer.get('facility_name', '')))}<br/>"
            f"{t('signed_at')}: {_p(_time(str(report.get('signed_at', ''))))}<br/>"
            f"<span style='font-size:7pt'>{t('hash')}: {_p(str(report.get('content_hash', '')))}"
            "</span></p>"
        )
    else:
        parts.append(f"<hr/><p><b>{t('unsigned')}</b></p>")
    parts.append(f"<p style='font-size:8pt'>{t('note')}</p>")
    return "\n".join(parts)


def report_pdf(
    report: dict[str, Any],
    consultation: dict[str, Any],
    patient: dict[str, Any],
    requesting_facility: str,
    consulting_facility: str,
    language: str = "zh_CN",
    image_objects: list[str] | None = None,
) -> bytes:
    """The report as PDF bytes (A4, the CJK font embedded, page numbers)."""
    family = _ensure_font()
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    writer = QPdfWriter(buffer)
    writer.setPageSize(QPageSize(QPageSize.PageSizeId.A4))
    writer.setPageMargins(QMarginsF(18, 16, 18, 18), QPageLayout.Unit.Millimeter)
    writer.setResolution(300)
    writer.setTitle(_t("title", language if language in ("zh_CN", "en") else "en"))
    writer.setCreator("YiQiao")
    doc = QTextDocument()
    font = QFont(family) if family else QFont()
    font.setPointSizeF(10.5)
    doc.setDefaultFont(font)
    doc.setHtml(
        report_html(
            report,
            consultation,
            patient,
            requesting_facility,
            consulting_facility,
            language,
            image_objects,
        )
    )
    painter = QPainter(writer)
    try:
        page_rect = QRectF(writer.pageLayout().paintRectPixels(writer.resolution()))
        footer_h = page_rect.height() * 0.04
        body = QSizeF(page_rect.width(), page_rect.height() - footer_h)
        # QTextDocument lays out in points; scale to the writer's pixels
        scale = writer.resolution() / 72.0
        doc.setPageSize(QSizeF(body.width() / scale, body.height() / scale))
        pages = doc.pageCount()
        identity = " · ".join(
            str(x)
            for x in (patient.get("name"), patient.get("id_card") or patient.get("patient_number"))
            if x
        )
        footer_font = QFont(font)
        footer_font.setPointSizeF(8)
        for n in range(pages):
            if n:
                writer.newPage()
            painter.save()
            painter.scale(scale, scale)
            painter.translate(0, -n * body.height() / scale)
            ctx = QAbstractTextDocumentLayout.PaintContext()
            ctx.clip = QRectF(
                0, n * body.height() / scale, body.width() / scale, body.height() / scale
            )
            doc.documentLayout().draw(painter, ctx)
            painter.restore()
            painter.setFont(footer_font)
            foot = QRectF(0, body.height(), body.width(), footer_h)
            # the patient's identity on every page, not only the first
            painter.drawText(
                foot, int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter), identity
            )
            painter.drawText(
                foot,
                int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter),
                _t("page", language if language in ("zh_CN", "en") else "en", n=n + 1, m=pages),
            )
    finally:
        painter.end()
    buffer.close()
    data: QByteArray = buffer.data()
    return bytes(data.data())
