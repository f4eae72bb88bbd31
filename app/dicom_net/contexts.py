"""Which SOP classes and transfer syntaxes we accept and propose.

We accept compressed syntaxes only where the viewer has a decoder (gdcm, pylibjpeg-openjpeg,
pylibjpeg-rle, pyjpegls — see app/dicom_viewer/decoders.py); everything else is asked for
uncompressed, which every sender must support.
"""

from __future__ import annotations

from pydicom.uid import (
    JPEG2000,
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)
from pynetdicom import AllStoragePresentationContexts, StoragePresentationContexts

# Service UIDs (pynetdicom's sop_class module builds its names at run time; type checkers
# cannot see them, so we name the few we use here).
VERIFICATION = "1.2.840.10008.1.1"
STUDY_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.2.1"
STUDY_ROOT_MOVE = "1.2.840.10008.5.1.4.1.2.2.2"
STUDY_ROOT_GET = "1.2.840.10008.5.1.4.1.2.2.3"

UNCOMPRESSED = [ExplicitVRLittleEndian, ImplicitVRLittleEndian]

# Lossless first: when a sender offers several, the acceptor takes the first it supports.
ACCEPTED_SYNTAXES: list[UID] = [
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEGLosslessSV1,
    JPEGLossless,
    JPEGLSLossless,
    JPEG2000Lossless,
    RLELossless,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    JPEGLSNearLossless,
    JPEG2000,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
]


def storage_sop_classes() -> list[str]:
    """Every storage SOP class pynetdicom knows (the SCP accepts all of them)."""
    return [str(cx.abstract_syntax) for cx in AllStoragePresentationContexts]


def common_storage_sop_classes() -> list[str]:
    """The usual imaging classes, for C-GET where one association holds at most 128 contexts."""
    return [str(cx.abstract_syntax) for cx in StoragePresentationContexts]
