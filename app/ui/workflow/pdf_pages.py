"""PDF pages as PNG images, rendered by PDFium in a child process: a broken PDF can crash
only that process, never the app. Qt-free; blocking (call on a worker)."""

from __future__ import annotations

import concurrent.futures
import io
import multiprocessing


class PdfUnreadable(ValueError):
    """The PDF could not be rendered (the message says why)."""


def _render(data: bytes, scale: float, max_pages: int) -> list[bytes]:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(data)
    pages = []
    try:
        for index in range(min(len(pdf), max_pages)):
            image = pdf[index].render(scale=scale).to_pil()
            out = io.BytesIO()
            image.save(out, "PNG")
            pages.append(out.getvalue())
    finally:
        pdf.close()
    return pages


def render_pages(
    data: bytes, scale: float = 1.5, max_pages: int = 50, timeout_s: float = 60
) -> list[bytes]:
    """Each page (up to ``max_pages``) as PNG bytes."""
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
        try:
            return pool.submit(_render, data, scale, max_pages).result(timeout_s)
        except concurrent.futures.process.BrokenProcessPool as exc:
            raise PdfUnreadable("the PDF reader stopped on this file") from exc
        except concurrent.futures.TimeoutError as exc:
            raise PdfUnreadable("the PDF took too long to render") from exc
        except Exception as exc:  # noqa: BLE001 - PDFium's errors, named for the user
            raise PdfUnreadable(f"the PDF cannot be read: {exc}") from exc
