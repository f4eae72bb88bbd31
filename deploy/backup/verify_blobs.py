"""Check a hub's blob folder against its database: every blob row has its file, same size
(``--hash`` also re-hashes each file). Exit 1 and list what is wrong otherwise."""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import sqlalchemy as sa


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--db", required=True, help="postgresql://... or sqlite:///...")
    p.add_argument("--data", required=True, help="the hub's --data folder")
    p.add_argument("--hash", action="store_true", help="re-hash every file (slow)")
    args = p.parse_args(argv)
    url = args.db
    if url.startswith(("postgresql://", "postgres://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT sha256, size FROM blobs")).all()
    engine.dispose()
    bad = []
    for sha, size in rows:
        path = Path(args.data) / "blobs" / sha[:2] / sha[2:4] / sha
        if not path.is_file():
            bad.append(f"missing {sha}")
        elif path.stat().st_size != size:
            bad.append(f"size {sha}: {path.stat().st_size} != {size}")
        elif args.hash and hashlib.sha256(path.read_bytes()).hexdigest() != sha:
            bad.append(f"content {sha}: hash differs")
    for line in bad:
        print(line, file=sys.stderr)
    print(f"{len(rows)} blobs in the database, {len(bad)} problems")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
