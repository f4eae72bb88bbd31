"""DICOM networking, Qt-free: our Storage SCP (with Verification and a query/retrieve SCP over
what we received), the SCU side (echo, send, find, move, get) towards a PACS, DICOMweb
(QIDO/WADO/STOW) and the encrypted inbox every received instance lands in.

DIMSE goes through pynetdicom (no hand-rolled PDU code), DICOMweb through dicomweb-client.
Nothing here imports PySide6: the UI (``app/ui/dicom_net``) renders and forwards.
"""
