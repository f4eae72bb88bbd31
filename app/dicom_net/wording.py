"""DICOM networking problems in the user's language (the technical detail stays appended).

Qt-free: ``translate(context, text)`` is Qt's in the GUI (app/ui/dicom_net/wording.py) and
the command line's in ``main.py dicom``."""

from __future__ import annotations

from collections.abc import Callable

Translate = Callable[[str, str], str]


def net_error_text(exc: BaseException, translate: Translate) -> str:
    """One sentence for a DimseError / DicomWebError / NodeError / OSError, plus the detail."""
    kind = getattr(exc, "kind", "")
    name = type(exc).__name__
    if name == "NodeError":
        head = translate(
            "DicomNetWording", "The PACS address is not valid (expected AE_TITLE@host:port)."
        )
    elif kind == "unreachable":
        head = translate(
            "DicomNetWording",
            "The PACS cannot be reached: check its address and port and the network.",
        )
    elif kind == "rejected":
        head = translate(
            "DicomNetWording", "The PACS refused the connection: check that it knows our AE title."
        )
    elif kind == "no_response":
        head = translate(
            "DicomNetWording", "The PACS stopped answering (connection lost or timed out)."
        )
    elif kind == "http":
        head = translate(
            "DicomNetWording", "The DICOMweb server refused the request (HTTP {status})."
        ).format(status=getattr(exc, "status", 0))
    elif kind == "bad_reply":
        head = translate("DicomNetWording", "The DICOMweb server's reply could not be read.")
    elif kind == "bad_request":
        head = translate("DicomNetWording", "Choose a study first.")
    elif kind == "tls":
        head = translate(
            "DicomNetWording",
            "The DICOM TLS settings cannot be used: check the certificate, key and CA files.",
        )
    elif name == "ReceiverError":
        head = translate("DicomNetWording", "The DICOM receiver could not start.")
    elif isinstance(exc, OSError):
        head = translate("DicomNetWording", "The local DICOM store could not be used.")
    else:
        head = translate("DicomNetWording", "The DICOM operation failed.")
    return f"{head}\n({exc})"


def status_words(status: int, translate: Translate) -> str:
    """A DIMSE status for the per-instance results list."""
    if status == 0:
        return translate("DicomNetWording", "Stored")
    if status == -1:
        return translate("DicomNetWording", "Not sent")
    if status >> 12 == 0xB:
        return translate("DicomNetWording", "Stored with warning (0x{code:04X})").format(
            code=status
        )
    if status >> 8 == 0xA7:
        return translate("DicomNetWording", "Refused: PACS out of resources (0x{code:04X})").format(
            code=status
        )
    if status >> 8 == 0xA9:
        return translate(
            "DicomNetWording", "Refused: data does not match its class (0x{code:04X})"
        ).format(code=status)
    if status >> 12 == 0xC:
        return translate("DicomNetWording", "Refused: PACS cannot read it (0x{code:04X})").format(
            code=status
        )
    return translate("DicomNetWording", "Failed (0x{code:04X})").format(code=status)
