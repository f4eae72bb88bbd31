"""An anonymized copy for sharing: DICOM PS3.15 Annex E Basic Application Level
Confidentiality Profile (no options retained). The original file is never touched.

Actions per attribute: D replace with a dummy, Z empty, X remove, U replace UID (the same
original UID always maps to the same new UID within one ``Anonymizer``, so series stay intact).
Private attributes are removed (the profile's default without the Retain Private option).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from app.dicom_viewer.errors import DicomFileError

# A practical subset of PS3.15 Table E.1-1 covering identifying attributes found in
# imaging objects; anything not listed is kept.
ACTIONS: dict[str, str] = {
    "PatientName": "D",
    "PatientID": "D",
    "PatientBirthDate": "Z",
    "PatientSex": "Z",
    "PatientAge": "X",
    "PatientAddress": "X",
    "PatientTelephoneNumbers": "X",
    "PatientBirthName": "X",
    "PatientMotherBirthName": "X",
    "OtherPatientIDs": "X",
    "OtherPatientNames": "X",
    "OtherPatientIDsSequence": "X",
    "PatientBirthTime": "X",
    "PatientSize": "X",
    "PatientWeight": "X",
    "EthnicGroup": "X",
    "Occupation": "X",
    "AdditionalPatientHistory": "X",
    "PatientComments": "X",
    "MedicalRecordLocator": "X",
    "MilitaryRank": "X",
    "BranchOfService": "X",
    "CountryOfResidence": "X",
    "RegionOfResidence": "X",
    "PatientInsurancePlanCodeSequence": "X",
    "ResponsiblePerson": "X",
    "PatientReligiousPreference": "X",
    "AccessionNumber": "Z",
    "StudyID": "Z",
    "StudyDate": "Z",
    "StudyTime": "Z",
    "SeriesDate": "X",
    "SeriesTime": "X",
    "AcquisitionDate": "X",
    "AcquisitionTime": "X",
    "ContentDate": "Z",
    "ContentTime": "Z",
    "AcquisitionDateTime": "X",
    "InstanceCreationDate": "X",
    "InstanceCreationTime": "X",
    "OverlayDate": "X",
    "OverlayTime": "X",
    "CurveDate": "X",
    "CurveTime": "X",
    "ReferringPhysicianName": "Z",
    "ReferringPhysicianAddress": "X",
    "ReferringPhysicianTelephoneNumbers": "X",
    "PerformingPhysicianName": "X",
    "NameOfPhysiciansReadingStudy": "X",
    "PhysiciansOfRecord": "X",
    "OperatorsName": "X",
    "RequestingPhysician": "X",
    "InstitutionName": "X",
    "InstitutionAddress": "X",
    "InstitutionalDepartmentName": "X",
    "StationName": "X",
    "DeviceSerialNumber": "X",
    "StudyDescription": "X",
    "SeriesDescription": "X",
    "AdmittingDiagnosesDescription": "X",
    "DerivationDescription": "X",
    "ImageComments": "X",
    "RequestAttributesSequence": "X",
    "ReferencedPatientSequence": "X",
    "ReferencedStudySequence": "X",
    "PerformedProcedureStepID": "X",
    "PerformedProcedureStepDescription": "X",
    "ProtocolName": "X",
    "ScheduledProcedureStepID": "X",
    "RequestedProcedureID": "X",
    "ContentCreatorName": "Z",
    "IssuerOfPatientID": "X",
    "PatientState": "X",
    "StudyInstanceUID": "U",
    "SeriesInstanceUID": "U",
    "SOPInstanceUID": "U",
    "FrameOfReferenceUID": "U",
    "ReferencedSOPInstanceUID": "U",
    "SynchronizationFrameOfReferenceUID": "U",
    "StorageMediaFileSetUID": "U",
    "IrradiationEventUID": "U",
    "ReferencedFrameOfReferenceUID": "U",
    "DimensionOrganizationUID": "U",
    "ConcatenationUID": "U",
}


class Anonymizer:
    """Apply the basic profile; UID mapping is consistent across files of one session."""

    def __init__(self, dummy_name: str = "ANONYMOUS", dummy_id: str | None = None) -> None:
        self.dummy_name = dummy_name
        self.dummy_id = dummy_id
        self._uids: dict[str, str] = {}

    def _uid(self, old: str) -> str:
        if old not in self._uids:
            self._uids[old] = generate_uid()
        return self._uids[old]

    def apply(self, ds: Dataset) -> Dataset:
        """Anonymize ``ds`` in place (call on a copy) and return it."""
        original_id = str(ds.get("PatientID", "") or "")
        ds.remove_private_tags()
        self._walk(ds, original_id)
        for group in range(0x6000, 0x6020, 2):  # overlay comments/labels may hold identity
            for elem in (0x0022, 0x1500):
                if (group, elem) in ds:
                    del ds[(group, elem)]
        ds.PatientIdentityRemoved = "YES"
        ds.DeidentificationMethod = "DICOM PS3.15 Basic Application Level Confidentiality Profile"
        code = Dataset()
        code.CodeValue, code.CodingSchemeDesignator = "113100", "DCM"
        code.CodeMeaning = "Basic Application Confidentiality Profile"
        ds.DeidentificationMethodCodeSequence = [code]
        if hasattr(ds, "file_meta") and "MediaStorageSOPInstanceUID" in ds.file_meta:
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        return ds

    def _walk(self, ds: Dataset, original_id: str) -> None:
        for elem in list(ds):
            keyword = elem.keyword
            if elem.VR == "SQ" and ACTIONS.get(keyword) != "X":
                for item in elem.value:
                    self._walk(item, original_id)
                continue
            action = ACTIONS.get(keyword)
            if action is None:
                continue
            if action == "X":
                del ds[elem.tag]
            elif action == "Z":
                elem.value = "" if elem.VR != "SQ" else []
            elif action == "D":
                if keyword == "PatientID":
                    digest = hashlib.sha256(original_id.encode()).hexdigest()[:12]
                    elem.value = self.dummy_id or f"ANON-{digest}"
                else:
                    elem.value = self.dummy_name
            elif action == "U" and elem.value:
                elem.value = self._uid(str(elem.value))


def anonymize_file(src: str | Path, dst: str | Path, anonymizer: Anonymizer | None = None) -> Path:
    """Write an anonymized copy of ``src`` to ``dst`` (never the same path)."""
    src, dst = Path(src), Path(dst)
    if src.resolve() == dst.resolve():
        raise DicomFileError(src, "refusing to overwrite the original file")
    try:
        ds = pydicom.dcmread(src, force=True)
    except Exception as exc:  # noqa: BLE001
        raise DicomFileError(src, f"unreadable DICOM file: {exc}") from exc
    (anonymizer or Anonymizer()).apply(ds)
    dst.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(dst)
    return dst
