"""Report documents: the PDF (QtGui, no widgets; runs on a worker once a QGuiApplication exists)."""
