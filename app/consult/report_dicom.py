"""A report PDF as a DICOM Encapsulated PDF instance, ready for a PACS.

SOP Class 1.2.840.10008.5.1.4.1.1.104.1 (Encapsulated PDF Storage), Modality DOC, MIME Type
application/pdf, tied to the patient (name, ID, birth date, sex) and to the study the
consultation was about (its Study Instance UID, so the PACS files it beside the images); a new
series of its own. Encapsulated Document is padded to an even length with one NUL, as the
standard requires (PS3.3 C.24.2.1); ``Encapsulated Document Length`` keeps the true length,
so the extracted PDF is byte-identical. UTF-8 (ISO_IR 192) so Chinese names survive.
"""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

ENCAPSULATED_PDF = UID("1.2.840.10008.5.1.4.1.1.104.1")


def _dicom_date(value: str) -> str:
    return value.replace("-", "")[:8] if value else ""


def _person_name(name: str) -> str:
    # Chinese names as one component; DICOM's "^" separates family and given names
    return name.replace("^", " ").strip()


def encapsulated_pdf(
    pdf: bytes,
    patient: dict[str, Any],
    *,
    study_uid: str = "",
    title: str = "Remote consultation report",
    institution: str = "",
    signer: str = "",
    when: datetime | None = None,
    accession: str = "",
) -> bytes:
    """The DICOM Part 10 file (bytes) holding ``pdf``."""
    when = when or datetime.now().astimezone()
    sop_uid = generate_uid()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ENCAPSULATED_PDF
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = ENCAPSULATED_PDF
    ds.SOPInstanceUID = sop_uid
    ds.Modality = "DOC"
    ds.ConversionType = "WSD"
    ds.PatientName = _person_name(str(patient.get("name", "")))
    ds.PatientID = str(patient.get("patient_number") or patient.get("id_card") or "")
    ds.PatientBirthDate = _dicom_date(str(patient.get("birth_date", "")))
    ds.PatientSex = {"M": "M", "F": "F", "O": "O"}.get(str(patient.get("sex", "")), "")
    if patient.get("id_card"):
        ds.OtherPatientIDsSequence = [_other_id(str(patient["id_card"]))]
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.StudyDate = ds.ContentDate = when.strftime("%Y%m%d")
    ds.AcquisitionDateTime = when.strftime("%Y%m%d%H%M%S")
    ds.StudyTime = ds.ContentTime = when.strftime("%H%M%S")
    ds.AccessionNumber = accession
    ds.ReferringPhysicianName = ""
    ds.StudyID = ""
    ds.SeriesNumber = 9901
    ds.InstanceNumber = 1
    ds.Manufacturer = "YiQiao"
    if institution:
        ds.InstitutionName = institution
    ds.DocumentTitle = title
    ds.BurnedInAnnotation = "YES"  # the PDF shows the patient's identity
    if signer:
        ds.VerifyingObserverSequence = [_observer(signer, institution, when)]
        ds.VerificationFlag = "VERIFIED"
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    ds.EncapsulatedDocumentLength = len(pdf)
    ds.EncapsulatedDocument = pdf + (b"\0" if len(pdf) % 2 else b"")
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def _other_id(number: str) -> Dataset:
    item = Dataset()
    item.PatientID = number
    item.IssuerOfPatientID = "CN resident identity card"
    item.TypeOfPatientID = "TEXT"
    return item


def _observer(name: str, institution: str, when: datetime) -> Dataset:
    item = Dataset()
    item.VerifyingObserverName = _person_name(name)
    item.VerifyingOrganization = institution
    item.VerificationDateTime = when.strftime("%Y%m%d%H%M%S")
    item.VerifyingObserverIdentificationCodeSequence = []
    return item


def extract_pdf(dicom: bytes) -> bytes:
    """The PDF inside an Encapsulated PDF instance, exactly as it was put in."""
    import pydicom

    ds = pydicom.dcmread(io.BytesIO(dicom))
    data = bytes(ds.EncapsulatedDocument)
    length = int(ds.get("EncapsulatedDocumentLength", len(data)))
    return data[:length]
