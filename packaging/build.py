"""Build the one-dir bundle (dist/YiQiao) with PyInstaller, skipping the build when nothing
that goes into it changed.

    python packaging/build.py            build (or reuse) and print size and build time
    python packaging/build.py --force    rebuild even if the inputs are unchanged

The inputs are hashed: the lock file, the spec, every file under app/, hub/ and resources/
(including the compiled .qm translations), main.py, and the Python version and platform.
The hash is stored next to the bundle; a matching hash means the bundle is current.
CI starts from a fresh clone, so there every run is a cold build.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "packaging" / "yiqiao.spec"
DIST = ROOT / "dist"
WORK = ROOT / "build" / "pyinstaller"
BUNDLE = DIST / "YiQiao"
STAMP = BUNDLE / ".build-inputs.sha256"
_SOURCE_DIRS = ("app", "hub", "resources")
_SKIP_PARTS = {"__pycache__", ".pytest_cache"}


def executable(bundle: Path = BUNDLE) -> Path:
    """The bundle's launcher for this platform."""
    return bundle / ("YiQiao.exe" if sys.platform == "win32" else "YiQiao")


def inputs_hash() -> str:
    """A hash of everything that decides the bundle's content."""
    digest = hashlib.sha256()
    digest.update(f"{sys.version}|{sys.platform}|{sys.executable}".encode())
    files = [ROOT / "requirements.lock", SPEC, ROOT / "main.py"]
    for folder in _SOURCE_DIRS:
        files += sorted(
            p
            for p in (ROOT / folder).rglob("*")
            if p.is_file() and not _SKIP_PARTS.intersection(p.parts) and p.suffix != ".pyc"
        )
    for path in files:
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(b"\0")
        digest.update(path.read_bytes() if path.is_file() else b"<missing>")
    return digest.hexdigest()


def dir_size(path: Path) -> int:
    """Total bytes of the files under ``path``."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def _lock_file() -> Any:
    WORK.mkdir(parents=True, exist_ok=True)
    return open(WORK.parent / "pyinstaller.lock", "w")  # noqa: SIM115 - closed by callers


def build(force: bool = False, quiet: bool = True) -> tuple[Path, float | None]:
    """Build or reuse the bundle; return (launcher path, build seconds or None if reused)."""
    with _lock_file() as handle:
        _flock(handle, exclusive=True)
        return _build_locked(force, quiet)


@contextlib.contextmanager
def bundle_in_use(force: bool = False) -> Iterator[tuple[Path, float | None]]:
    """Build or reuse the bundle, then keep anyone in this tree from rebuilding it (and so
    deleting it) until the block ends: parallel test runs share dist/."""
    with _lock_file() as handle:
        _flock(handle, exclusive=True)
        result = _build_locked(force, quiet=True)
        _flock(handle, exclusive=False)  # readers share; a rebuild waits for all of them
        yield result


def _flock(handle: Any, exclusive: bool) -> None:
    if sys.platform == "win32":
        return  # one build at a time is the CI runner's job there
    import fcntl

    fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)


def _build_locked(force: bool, quiet: bool) -> tuple[Path, float | None]:
    wanted = inputs_hash()
    if not force and executable().is_file() and STAMP.is_file() and STAMP.read_text() == wanted:
        return executable(), None
    missing_qm = [
        ts
        for ts in (ROOT / "resources" / "translations").glob("*.ts")
        if not ts.with_suffix(".qm").is_file()
    ]
    if missing_qm:
        raise SystemExit(
            f"compiled translations missing for {missing_qm}: run `make translations` first"
        )
    started = time.perf_counter()
    cmd = [
        sys.executable,
        "-m",
        "PyInstaller",
        "--noconfirm",
        "--clean",
        "--log-level",
        "WARN" if quiet else "INFO",
        "--distpath",
        str(DIST),
        "--workpath",
        str(WORK),
        str(SPEC),
    ]
    if BUNDLE.exists():
        shutil.rmtree(BUNDLE)
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    subprocess.run(cmd, cwd=ROOT, env=env, check=True)
    STAMP.write_text(wanted)
    return executable(), time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: build and report where, how big and how long."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="rebuild even if nothing changed")
    parser.add_argument("--verbose", action="store_true", help="show PyInstaller's INFO log")
    args = parser.parse_args(argv)
    exe, seconds = build(force=args.force, quiet=not args.verbose)
    size_mb = dir_size(BUNDLE) / 1e6
    took = f"built in {seconds:.0f} s" if seconds is not None else "up to date (inputs unchanged)"
    print(f"bundle: {exe} — {size_mb:.0f} MB on disk, {took}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
