"""Report export: the PDF through Qt's writer (CJK font embedded, every section, page
numbers, Chinese or English) checked with poppler's pdftotext/pdffonts, and the DICOM
Encapsulated PDF checked with DCMTK (dcmdump reads it, dcm2pdf gets the PDF back byte for
byte)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pydicom
import pytest

from app.consult.report_dicom import ENCAPSULATED_PDF, encapsulated_pdf, extract_pdf
from app.protocol.records import sign_report

PATIENT = {
    "name": "王秀英",
    "sex": "F",
    "birth_date": "1956-03-14",
    "id_card": "532901195603141229",
    "patient_number": "QS20260012",
}
CONSULTATION = {
    "consultation_type": "imaging",
    "purpose": "明确右肺结节性质",
    "reason": "咳嗽两月",
    "diagnosis_name": "肺结节",
    "diagnosis_code": "R91",
}
SIGNER = {
    "id": "u1",
    "name": "王立华",
    "title": "主任医师",
    "facility_name": "东川县人民医院",
    "department": "放射科",
}


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} not installed (Debian poppler-utils / dcmtk; .ci/run installs them)")
    return path


def _report(findings: str) -> dict:
    return sign_report(
        {
            "findings": findings,
            "diagnosis_name": "肺结节",
            "diagnosis_code": "R91",
            "opinion": "建议三个月后复查胸部CT。",
            "follow_up": "三个月后复诊",
            "referral": {
                "kind": "refer_up",
                "facility_name": "东川县人民医院",
                "department": "胸外科",
            },
        },
        SIGNER,
        "2026-11-29T10:00:00+08:00",
    )


@pytest.fixture
def pdfs(qapp, tmp_path: Path) -> dict[str, Path]:
    from app.report.pdf import report_pdf

    report = _report("右肺上叶结节约8 mm，边缘光滑。\n" + "随访对照。\n" * 70)
    out = {}
    for lang in ("zh_CN", "en"):
        path = tmp_path / f"report-{lang}.pdf"
        path.write_bytes(
            report_pdf(report, CONSULTATION, PATIENT, "青山镇卫生院", "东川县人民医院", lang)
        )
        out[lang] = path
    return out


def test_pdf_holds_patient_sections_signer_and_page_numbers(pdfs):
    pdftotext = _tool("pdftotext")
    zh = subprocess.run(
        [pdftotext, "-layout", str(pdfs["zh_CN"]), "-"], capture_output=True, text=True, check=True
    ).stdout
    for text in (
        "王秀英",
        "532901195603141229",
        "右肺上叶结节约8 mm",
        "会诊意见",
        "建议三个月后复查胸部CT",
        "王立华",
        "主任医师",
        "东川县人民医院",
        "2026-11-29 10:00",
        "转诊建议",
        "R91",
    ):
        assert text in zh, text
    pages = re.findall(r"第(\d+)页/共(\d+)页", zh.replace(" ", ""))
    total = int(pages[0][1])
    assert total >= 2 and pages == [(str(n), str(total)) for n in range(1, total + 1)]
    assert zh.count("王秀英") >= 1 + total, "patient on the banner and on every page's foot"
    en = subprocess.run(
        [pdftotext, str(pdfs["en"]), "-"], capture_output=True, text=True, check=True
    ).stdout
    for text in ("Remote consultation report", "Opinion and advice", "Page 2 of", "王秀英"):
        assert text in en, text


def test_pdf_embeds_its_cjk_font(pdfs):
    from app.report.pdf import cjk_font_file

    if cjk_font_file() is None:
        pytest.skip("no CJK font found (Debian fonts-wqy-microhei; .ci/run installs it)")
    fonts = subprocess.run(
        [_tool("pdffonts"), str(pdfs["zh_CN"])], capture_output=True, text=True, check=True
    ).stdout.splitlines()[2:]
    assert fonts and all(line.split()[-5] == "yes" for line in fonts), fonts  # "emb" column
    assert any("WenQuanYi" in line for line in fonts)


def test_encapsulated_pdf_is_valid_dicom_and_gives_the_pdf_back(pdfs, tmp_path):
    pdf = pdfs["zh_CN"].read_bytes()
    if len(pdf) % 2 == 0:
        pdf += b"\n"  # exercise the odd-length padding
    dcm = tmp_path / "report.dcm"
    dcm.write_bytes(
        encapsulated_pdf(
            pdf,
            PATIENT,
            study_uid="1.2.826.0.1.3680043.2.1125.1",
            signer="王立华",
            institution="东川县人民医院",
        )
    )
    dump = subprocess.run([_tool("dcmdump"), "-q", str(dcm)], capture_output=True, text=True)
    assert dump.returncode == 0, dump.stderr
    for text in (
        "=EncapsulatedPDFStorage",
        "[DOC]",
        "[application/pdf]",
        "[王秀英]",
        "[QS20260012]",
        "[1.2.826.0.1.3680043.2.1125.1]",
    ):
        assert text in dump.stdout, text
    out = tmp_path / "back.pdf"
    subprocess.run([_tool("dcm2pdf"), str(dcm), str(out)], check=True, capture_output=True)
    assert out.read_bytes() == pdf, "DCMTK extracts the very same PDF"
    assert extract_pdf(dcm.read_bytes()) == pdf
    ds = pydicom.dcmread(dcm)
    assert ds.SOPClassUID == ENCAPSULATED_PDF and len(ds.EncapsulatedDocument) % 2 == 0
    assert ds.EncapsulatedDocumentLength == len(pdf)


def test_the_report_lists_what_co_viewing_saved_into_the_consultation():
    from app.report.pdf import report_html

    report = _report("右肺上叶结节约8 mm。")
    objects = ["coview-ps-1.dcm", "coview-measurements.dcm"]
    for lang, words in (("zh_CN", "共享阅片的标注与测量"), ("en", "measurements from the call")):
        text = report_html(
            report, CONSULTATION, PATIENT, "青山镇卫生院", "东川县人民医院", lang, objects
        )
        assert words in text and all(name in text for name in objects)
    assert "coview" not in report_html(report, CONSULTATION, PATIENT, "a", "b", "zh_CN")
