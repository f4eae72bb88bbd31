"""Take a screenshot of the running client (for the README and for looking at the UI).

xvfb-run -a -s "-screen 0 1400x900x24" .venv/bin/python tools/screenshot.py OUT.png [--lang zh_CN]
    [--page consultations] [--login USER:PASSWORD] [--wait SECONDS]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    """Start the real app, optionally sign in and switch page, then grab the screen."""
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--lang", default="zh_CN")
    parser.add_argument("--page", default="consultations")
    parser.add_argument("--login", default="")
    parser.add_argument("--wait", type=float, default=6.0)
    parser.add_argument("--dialog", choices=["", "login", "settings", "about"], default="")
    args = parser.parse_args()

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    import app.ui.app as ui

    original = ui.ClientController.__init__
    holder: dict = {}

    def capture_controller(self, *a, **kw):  # noqa: ANN001, ANN202
        original(self, *a, **kw)
        holder["c"] = self
        # timers need the QApplication, which exists once the controller is built
        QTimer.singleShot(int(args.wait * 500), sign_in)
        QTimer.singleShot(int(args.wait * 800), go)
        QTimer.singleShot(int(args.wait * 1000), shoot)

    ui.ClientController.__init__ = capture_controller  # type: ignore[method-assign]

    def sign_in() -> None:
        c = holder["c"]
        if args.login and c.login_dialog is not None:
            user, password = args.login.split(":", 1)
            c.login_dialog.username.setText(user)
            c.login_dialog.password.setText(password)
            c.login_dialog.submit()

    def go() -> None:
        c = holder["c"]
        if not args.dialog == "login" and c.login_dialog is not None and not args.login:
            c.login_dialog.hide()
        c.window.show_page(args.page)
        if args.dialog == "settings":
            from app.ui.settings_dialog import SettingsDialog

            d = SettingsDialog(c.context.settings, c.window)
            d.show()
        if args.dialog == "about":
            from app.ui.about_dialog import AboutDialog

            AboutDialog(c.window).show()

    def shoot() -> None:
        screen = QApplication.primaryScreen()
        screen.grabWindow(0).save(args.out)
        print("saved", args.out)
        QApplication.quit()

    return ui.run_gui(language=args.lang)


if __name__ == "__main__":
    sys.exit(main())
