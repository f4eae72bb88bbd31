"""The consultation workflow on the client, Qt-free: taking lifecycle actions, the directory
kept for offline drafting, signing and amending reports, notifications derived from synced
records, the home-meter CSV import, the ICD-10 code list and the DICOM Encapsulated PDF.
The rules themselves are :mod:`app.protocol.consultation` (shared with the hub)."""
