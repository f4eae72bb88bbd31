"""Fill translations into a Qt Linguist .ts file.

    python tools/ts_fill.py --list                 # show untranslated entries
    python tools/ts_fill.py FILE.json              # apply {"source": "译文", ...}
    python tools/ts_fill.py FILE.json --context C  # only in context C

Run ``make ts-update`` first so new strings from the code are in the .ts file.
"""

from __future__ import annotations

import argparse
import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

DEFAULT_TS = Path(__file__).resolve().parent.parent / "resources/translations/yiqiao_zh_CN.ts"


def unfinished(root: ET.Element) -> list[tuple[str, str]]:
    """(context, source) of every entry still lacking a translation."""
    out = []
    for ctx in root.iter("context"):
        name = ctx.findtext("name", "")
        for msg in ctx.iter("message"):
            tr = msg.find("translation")
            if tr is None or tr.get("type") in ("unfinished",) or not (tr.text or "").strip():
                if tr is not None and tr.get("type") in ("vanished", "obsolete"):
                    continue
                out.append((name, msg.findtext("source", "")))
    return out


def apply(root: ET.Element, table: dict[str, str], context: str | None) -> int:
    """Set translations from ``table``; returns how many entries changed."""
    changed = 0
    for ctx in root.iter("context"):
        if context and ctx.findtext("name") != context:
            continue
        for msg in ctx.iter("message"):
            source = msg.findtext("source", "")
            if source in table:
                tr = msg.find("translation")
                if tr is None:
                    tr = ET.SubElement(msg, "translation")
                tr.text = table[source]
                tr.attrib.pop("type", None)
                changed += 1
    return changed


def main(argv: list[str] | None = None) -> int:
    """Command-line entry."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("table", nargs="?", help="JSON object mapping source text to translation")
    parser.add_argument("--ts", default=str(DEFAULT_TS))
    parser.add_argument("--context")
    parser.add_argument("--list", action="store_true")
    args = parser.parse_args(argv)
    tree = ET.parse(args.ts)
    root = tree.getroot()
    if args.table:
        table = json.loads(Path(args.table).read_text("utf-8"))
        print(f"{apply(root, table, args.context)} entries translated")
        ET.indent(tree)
        tree.write(args.ts, encoding="utf-8", xml_declaration=True)
    missing = unfinished(root)
    if args.list or missing:
        for ctx, src in missing:
            print(f"untranslated [{ctx}] {src!r}")
    return 1 if missing and args.list else 0


if __name__ == "__main__":
    sys.exit(main())
