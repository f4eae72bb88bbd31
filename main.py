"""YiQiao entry point.

    python main.py                      start the desktop client
    python main.py --lang zh_CN         ... in a given language (en, zh_CN)
    python main.py --self-check         check decoders, devices, keyring, cache, hub; exit code
    python main.py export IN.dcm OUT.png [--frame N] [--window C,W] [--gsps PR.dcm]
    python main.py hub serve|admin|demo ...   run the hub (lets the frozen bundle be its own hub)
    python main.py dicom receive|echo|send|find|move|get|inbox ...   DICOM node without the GUI

Imports stay inside the branches so each sub-command loads only what it needs (start-up time).
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys


def main(argv: list[str] | None = None) -> int:
    """Dispatch to the GUI or a sub-command; returns the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "export":
        from app.dicom_viewer.export_cli import main as export_main

        return export_main(argv[1:])
    if argv and argv[0] == "dicom":
        from app.dicom_net.cli import main as dicom_main

        return dicom_main(argv[1:])
    if argv and argv[0] == "hub":
        from hub.__main__ import main as hub_main

        return hub_main(argv[1:])
    if "--self-check" in argv:
        from app.selfcheck import main as self_check_main

        return self_check_main([a for a in argv if a != "--self-check"])

    parser = argparse.ArgumentParser(prog="yiqiao", description="YiQiao remote consultation")
    parser.add_argument("--lang", choices=["en", "zh_CN"], help="override the UI language")
    parser.add_argument("--probe-startup", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    from app.ui.app import run_gui

    return run_gui(language=args.lang, probe_startup=args.probe_startup)


if __name__ == "__main__":
    multiprocessing.freeze_support()  # PyInstaller: child processes re-enter main.py
    sys.exit(main())
