"""YiQiao entry point.

    python main.py                      start the desktop client
    python main.py --lang zh_CN         ... in a given language (en, zh_CN)
    python main.py --self-check         check decoders, devices, keyring, cache, hub; exit code
    python main.py export IN.dcm OUT.png [--frame N] [--window C,W] [--gsps PR.dcm]
    python main.py hub serve|admin|demo ...   run the hub (lets the frozen bundle be its own hub)
    python main.py dicom receive|echo|send|find|move|get|inbox ...   DICOM node without the GUI
    python main.py --help               all of the above, in the user's language
    (each command's --help and errors too; ``--lang zh_CN`` may follow the command)

Imports stay inside the branches so each sub-command loads only what it needs (start-up time).
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
from collections.abc import Callable

_COMMANDS = ("export", "dicom", "hub")


def _identity(_context: str, text: str) -> str:
    return text


def build_parser(translate: Callable[[str, str], str] = _identity) -> argparse.ArgumentParser:
    """The command line, worded with ``translate`` (Qt's, once a language is installed)."""

    class Formatter(argparse.RawDescriptionHelpFormatter):
        def add_usage(self, usage, actions, groups, prefix=None):  # noqa: ANN001, ANN202
            return super().add_usage(usage, actions, groups, translate("Main", "usage: "))

    commands = translate(
        "Main",
        "commands:\n"
        "  export IN.dcm OUT.png [--frame N] [--window C,W] [--gsps PR.dcm]\n"
        "                        render a DICOM image as the viewer shows it into a PNG\n"
        "                        (see: export --help)\n"
        "  dicom receive|echo|send|find|move|get|inbox …\n"
        "                        act as a DICOM node without the window (see: dicom --help)\n"
        "  hub serve|admin|demo …\n"
        "                        run the hub server, manage its accounts or seed demo data\n"
        "                        (see: hub --help)",
    )
    parser = argparse.ArgumentParser(
        prog="yiqiao",
        description=translate("Main", "YiQiao remote consultation: the desktop client."),
        epilog=commands,
        formatter_class=Formatter,
        add_help=False,
    )
    parser._optionals.title = translate("Main", "options")
    parser.add_argument(
        "-h", "--help", action="help", help=translate("Main", "show this help and exit")
    )
    parser.add_argument(
        "--lang",
        choices=["en", "zh_CN"],
        help=translate("Main", "the language of the window (default: settings, else the system's)"),
    )
    parser.add_argument(
        "--self-check",
        action="store_true",
        help=translate(
            "Main",
            "check decoders, devices, keyring, encrypted cache and hub, write a report and "
            "exit (non-zero on a failure; see: --self-check --help)",
        ),
    )
    parser.add_argument("--probe-startup", action="store_true", help=argparse.SUPPRESS)
    return parser


def _translated_help_parser(argv: list[str]) -> argparse.ArgumentParser:
    """The parser in the user's language (only for --help: it creates a Qt application)."""
    from app.config import load_settings
    from app.ui.i18n import use_cli_language

    lang = argv[argv.index("--lang") + 1] if "--lang" in argv[:-1] else None
    use_cli_language(lang or load_settings().get("language", "system"))
    from PySide6.QtCore import QCoreApplication

    return build_parser(QCoreApplication.translate)


def main(argv: list[str] | None = None) -> int:
    """Dispatch to the GUI or a sub-command; returns the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--lang"] and argv[2:3] and argv[2] in _COMMANDS:
        argv = argv[2:] + argv[:2]  # "--lang zh_CN export …": the command's own --lang
    if argv and argv[0] in _COMMANDS:
        from app.ui.cli_language import run_translated

        if argv[0] == "export":
            from app.dicom_viewer.export_cli import main as command
        elif argv[0] == "dicom":
            from app.dicom_net.cli import main as command
        else:
            from hub.__main__ import main as command
        return run_translated(argv[1:], command)
    if "--self-check" in argv:
        from app.selfcheck import main as self_check_main

        return self_check_main([a for a in argv if a != "--self-check"])
    wants_help = "-h" in argv or "--help" in argv
    parser = _translated_help_parser(argv) if wants_help else build_parser()
    args = parser.parse_args(argv)
    from app.ui.app import run_gui

    return run_gui(language=args.lang, probe_startup=args.probe_startup)


if __name__ == "__main__":
    multiprocessing.freeze_support()  # PyInstaller: child processes re-enter main.py
    sys.exit(main())
