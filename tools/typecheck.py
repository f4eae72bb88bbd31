"""Type-check the tree with mypy and hold each package to its allowance.

    python tools/typecheck.py            # fail if a package has more errors than allowed
    python tools/typecheck.py --report   # print the counts per package

The whole tree is at zero errors. The Qt-free cores, the protocol and the hub always allow
none; any other package may be given a temporary allowance in tools/typecheck_allowance.json
(empty today), which may only go down: when a package has fewer errors than allowed, this
tool says so, and the number is lowered in the same commit.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ALLOWANCE = Path(__file__).with_name("typecheck_allowance.json")
STRICT = ("app/protocol", "app/sync", "app/dicom_viewer", "app/consult", "app/dicom_net", "hub")
TARGETS = ["app", "hub", "main.py"]
_LINE = re.compile(r"^(?P<path>[^:]+\.py):\d+: error: ")


def package_of(path: str) -> str:
    """The allowance key for a file: ``app/<pkg>`` or ``hub`` or the top-level module."""
    parts = Path(path).parts
    if parts[0] == "app" and len(parts) > 2:
        return f"app/{parts[1]}"
    if parts[0] == "hub":
        return "hub"
    return "/".join(parts)


def run_mypy() -> tuple[Counter[str], list[str]]:
    """Errors per package, and mypy's error lines."""
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", *TARGETS],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    lines = [line for line in proc.stdout.splitlines() if _LINE.match(line)]
    if proc.returncode not in (0, 1) or (proc.returncode == 1 and not lines):
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"mypy did not run (exit {proc.returncode})")
    counts: Counter[str] = Counter(package_of(_LINE.match(x)["path"]) for x in lines)  # type: ignore[index]
    return counts, lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", action="store_true", help="print counts per package")
    args = parser.parse_args()
    allowed: dict[str, int] = json.loads(ALLOWANCE.read_text())
    counts, lines = run_mypy()
    failed = False
    for package in sorted(set(counts) | set(allowed)):
        limit = 0 if package.startswith(STRICT) else allowed.get(package, 0)
        have = counts.get(package, 0)
        if args.report:
            print(f"{package:24} {have:4} errors (allowed {limit})")
        if have > limit:
            failed = True
            print(f"{package}: {have} type errors, {limit} allowed:")
            for line in lines:
                if package_of(_LINE.match(line)["path"]) == package:  # type: ignore[index]
                    print("  " + line)
        elif have < limit:
            print(
                f"{package}: {have} type errors, fewer than the {limit} allowed: lower it in "
                f"{ALLOWANCE.relative_to(ROOT)}"
            )
    if not failed:
        print(f"type check: {sum(counts.values())} errors, all within allowances")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
