"""Widgets for DICOM networking: the receiver service and its status-bar label, the inbox
page's dialogs (match, attach, send, query/retrieve). The work is in ``app/dicom_net``."""
