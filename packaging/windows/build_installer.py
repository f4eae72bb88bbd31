"""Compile the NSIS installer around a bundle (or a stand-in payload for the test suite).

    python packaging/windows/build_installer.py                 # dist/YiQiao -> dist/YiQiao-<v>-setup.exe
    python packaging/windows/build_installer.py --standin DIR   # tiny fake payload, for checking the script

makensis runs on Windows and on Linux (Debian package `nsis`); warnings are errors (-WX) so a
sloppy change to the script fails the suite.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
SCRIPT = HERE / "yiqiao.nsi"
STANDIN_MARKER = "YIQIAO-STANDIN-PAYLOAD"


def app_version() -> str:
    """The version in app/__init__.py (what the About box shows)."""
    for line in (ROOT / "app" / "__init__.py").read_text("utf-8").splitlines():
        if line.startswith("__version__"):
            return line.split("=", 1)[1].strip().strip("\"'")
    raise RuntimeError("no __version__ in app/__init__.py")


def make_standin_payload(folder: Path) -> Path:
    """A bundle-shaped folder (YiQiao.exe, _internal/...) whose files carry a marker."""
    (folder / "_internal" / "resources").mkdir(parents=True, exist_ok=True)
    (folder / "YiQiao.exe").write_text(f"{STANDIN_MARKER} launcher\n")
    (folder / "_internal" / "base_library.zip").write_text(f"{STANDIN_MARKER} library\n")
    (folder / "_internal" / "resources" / "readme.txt").write_text(f"{STANDIN_MARKER} resource\n")
    return folder


def makensis() -> str:
    """Path of makensis, or a clear error."""
    found = shutil.which("makensis")
    if not found:
        raise SystemExit("makensis not found: install NSIS (Debian: apt-get install nsis)")
    return found


def build_installer(
    payload: Path, outfile: Path, version: str | None = None, compress: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run makensis; returns the finished process (check ``returncode`` and ``stdout``)."""
    outfile.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        makensis(),
        "-V2",
        "-WX",
        f"-DPAYLOAD_DIR={payload.resolve()}",
        f"-DVERSION={version or app_version()}",
        f"-DOUTFILE={outfile.resolve()}",
    ]
    if not compress:
        cmd.append("-DNO_COMPRESS")
    cmd.append(str(SCRIPT))
    return subprocess.run(cmd, cwd=HERE, capture_output=True, text=True, timeout=600)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payload", type=Path, default=ROOT / "dist" / "YiQiao")
    parser.add_argument("--standin", type=Path, help="build against a stand-in payload made here")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    payload = make_standin_payload(args.standin) if args.standin else args.payload
    if not (payload / "YiQiao.exe").is_file():
        raise SystemExit(f"{payload} holds no YiQiao.exe: build the Windows bundle first")
    out = args.out or ROOT / "dist" / f"YiQiao-{app_version()}-setup.exe"
    result = build_installer(payload, out, compress=not args.standin)
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    if result.returncode == 0:
        print(f"installer: {out} ({out.stat().st_size / 1e6:.1f} MB)")
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
