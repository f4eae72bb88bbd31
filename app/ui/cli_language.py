"""The command lines (``export``, ``dicom``, ``hub``) in the user's language.

The Qt-free CLIs take a ``translate(context, text)`` callable and word their own help and
errors with it; this module picks the language (``--lang`` anywhere on the line, else the
language setting, else the system's), provides Qt's translator as that callable, and words
argparse's own sentences ("usage:", "the following arguments are required", …) while a
command line is parsed: argparse looks them up through its module-level ``_``/``ngettext``
(its gettext hook), which :func:`argparse_in` points at ``translate`` for that time.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from contextlib import contextmanager

Translate = Callable[[str, str], str]


def QT_TRANSLATE_NOOP(_context: str, text: str) -> str:  # noqa: N802 - the name lupdate reads
    return text


# argparse 3.11's own sentences (its gettext catalogue), so that lupdate extracts them.
ARGPARSE_TEXTS = (
    QT_TRANSLATE_NOOP("Argparse", "usage: "),
    QT_TRANSLATE_NOOP("Argparse", "positional arguments"),
    QT_TRANSLATE_NOOP("Argparse", "options"),
    QT_TRANSLATE_NOOP("Argparse", "show this help message and exit"),
    QT_TRANSLATE_NOOP("Argparse", "subcommands"),
    QT_TRANSLATE_NOOP("Argparse", "argument %(argument_name)s: %(message)s"),
    QT_TRANSLATE_NOOP("Argparse", "unknown parser %(parser_name)r (choices: %(choices)s)"),
    QT_TRANSLATE_NOOP("Argparse", "can't open '%(filename)s': %(error)s"),
    QT_TRANSLATE_NOOP("Argparse", "unrecognized arguments: %s"),
    QT_TRANSLATE_NOOP("Argparse", "not allowed with argument %s"),
    QT_TRANSLATE_NOOP("Argparse", "ignored explicit argument %r"),
    QT_TRANSLATE_NOOP("Argparse", "the following arguments are required: %s"),
    QT_TRANSLATE_NOOP("Argparse", "one of the arguments %s is required"),
    QT_TRANSLATE_NOOP("Argparse", "expected one argument"),
    QT_TRANSLATE_NOOP("Argparse", "expected at most one argument"),
    QT_TRANSLATE_NOOP("Argparse", "expected at least one argument"),
    QT_TRANSLATE_NOOP("Argparse", "expected %s argument"),
    QT_TRANSLATE_NOOP("Argparse", "expected %s arguments"),
    QT_TRANSLATE_NOOP("Argparse", "ambiguous option: %(option)s could match %(matches)s"),
    QT_TRANSLATE_NOOP("Argparse", "unexpected option string: %s"),
    QT_TRANSLATE_NOOP("Argparse", "invalid %(type)s value: %(value)r"),
    QT_TRANSLATE_NOOP("Argparse", "invalid choice: %(value)r (choose from %(choices)s)"),
    QT_TRANSLATE_NOOP("Argparse", "%(prog)s: error: %(message)s\n"),
)


@contextmanager
def argparse_in(translate: Translate) -> Iterator[None]:
    """While inside, argparse words its own sentences with ``translate`` (context
    "Argparse"). Build *and* parse inside: group titles and ``-h`` are worded at build time."""
    saved = argparse._, argparse.ngettext  # type: ignore[attr-defined]

    def words(text: str | None) -> str | None:
        return translate("Argparse", text) if text else text

    def plural(singular: str, plural_: str, n: int) -> str:
        return translate("Argparse", singular if n == 1 else plural_)

    argparse._ = words  # type: ignore[attr-defined]
    argparse.ngettext = plural  # type: ignore[attr-defined]
    try:
        yield
    finally:
        argparse._, argparse.ngettext = saved  # type: ignore[attr-defined]


def take_lang(argv: list[str]) -> tuple[list[str], str | None]:
    """``argv`` without ``--lang X``/``--lang=X`` (anywhere), and X (None if absent)."""
    rest: list[str] = []
    lang = None
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--lang" and i + 1 < len(argv):
            lang, i = argv[i + 1], i + 2
            continue
        if arg.startswith("--lang="):
            lang = arg.split("=", 1)[1]
        else:
            rest.append(arg)
        i += 1
    return rest, lang


def cli_translate(lang: str | None) -> Translate:
    """Qt's translator for ``lang`` (None: the language setting, else the system's); an
    identity function for English, so English runs create no Qt application."""
    from app.ui.i18n import use_cli_language

    if lang is None:
        from app.config import load_settings

        lang = str(load_settings().get("language", "system"))
    if use_cli_language(lang) == "en":
        return _untranslated
    from PySide6.QtCore import QCoreApplication

    return QCoreApplication.translate


def _untranslated(_context: str, text: str) -> str:
    return text


def run_translated(argv: list[str], command: Callable[[list[str], Translate], int]) -> int:
    """Run a Qt-free CLI ``command(argv, translate)`` in the user's language."""
    argv, lang = take_lang(argv)
    translate = cli_translate(lang)
    with argparse_in(translate):
        return command(argv, translate)
