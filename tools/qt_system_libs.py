"""Find the system libraries Qt's xcb platform plugin needs on Linux; install them or say how.

    python tools/qt_system_libs.py            # exit 1 naming the one apt-get line if any is missing
    python tools/qt_system_libs.py --install  # as root with apt: install them, then check again

PySide6's wheels bring Qt but not the X11/xcb libraries its ``libqxcb.so`` links against;
since Qt 6.5 a fresh Debian/Ubuntu desktop lacks some (libxcb-cursor0, libxcb-icccm4,
libxcb-keysyms1, ...) and the app aborts with "Could not load the Qt platform plugin xcb".
The list comes from ``ldd`` on the plugin in this venv, so it follows the Qt version.
``make run`` calls this with ``--install``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

# soname → Debian/Ubuntu package (bookworm, jammy, noble and later).
PACKAGES = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb-xinput.so.0": "libxcb-xinput0",
    "libxcb-glx.so.0": "libxcb-glx0",
    "libxcb.so.1": "libxcb1",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libGL.so.1": "libgl1",
    "libEGL.so.1": "libegl1",
    "libOpenGL.so.0": "libopengl0",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libdbus-1.so.3": "libdbus-1-3",
    "libSM.so.6": "libsm6",
    "libICE.so.6": "libice6",
}


def xcb_plugin() -> Path:
    """The xcb platform plugin of the PySide6 in this interpreter."""
    import PySide6

    return Path(PySide6.__file__).parent / "Qt" / "plugins" / "platforms" / "libqxcb.so"


def missing_sonames(ldd_output: str) -> list[str]:
    """Libraries ``ldd`` reports as "not found", each once, in order."""
    out: list[str] = []
    for line in ldd_output.splitlines():
        if "=> not found" in line:
            name = line.split("=>")[0].strip()
            if name not in out:
                out.append(name)
    return out


def packages_for(sonames: list[str]) -> tuple[list[str], list[str]]:
    """(Debian packages to install, sonames with no known package)."""
    packages: list[str] = []
    unknown: list[str] = []
    for name in sonames:
        package = PACKAGES.get(name)
        if package is None:
            unknown.append(name)
        elif package not in packages:
            packages.append(package)
    return packages, unknown


def check(plugin: Path | None = None) -> list[str]:
    """Sonames the xcb plugin cannot find on this machine (empty: all there)."""
    plugin = plugin or xcb_plugin()
    if not plugin.exists():
        return []  # a PySide6 without xcb (not Linux): nothing to check
    result = subprocess.run(["ldd", str(plugin)], capture_output=True, text=True, check=False)
    return missing_sonames(result.stdout)


def advice(packages: list[str], unknown: list[str]) -> str:
    """One line saying exactly what to install."""
    line = ""
    if packages:
        line = "Qt's window system plugin (xcb) needs: sudo apt-get install " + " ".join(packages)
    if unknown:
        line += ("; " if line else "Qt's window system plugin (xcb) needs the libraries ") + (
            ", ".join(unknown) + " (install the packages that provide them)"
        )
    return line


def main(argv: list[str] | None = None) -> int:
    """Command-line entry (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--install", action="store_true", help="install with apt-get when root")
    args = parser.parse_args(argv)
    if not sys.platform.startswith("linux"):
        return 0
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if platform and not platform.startswith("xcb"):
        return 0  # offscreen / wayland runs do not load the xcb plugin
    if not shutil.which("ldd"):
        return 0
    missing = check()
    if not missing:
        return 0
    packages, unknown = packages_for(missing)
    can_install = args.install and os.geteuid() == 0 and shutil.which("apt-get") and packages
    if can_install:
        print("Installing the libraries Qt's xcb plugin needs: " + " ".join(packages), flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages]
        if subprocess.run(install, env=env, check=False).returncode != 0:
            subprocess.run(["apt-get", "update", "-qq"], env=env, check=False)
            subprocess.run(install, env=env, check=False)
        missing = check()
        if not missing:
            return 0
        packages, unknown = packages_for(missing)
    print(advice(packages, unknown), file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
