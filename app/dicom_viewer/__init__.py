"""DICOM indexing, decoding, pixel pipeline, measurements and GSPS io (Qt-free)."""
