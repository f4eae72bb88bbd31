"""Command line: ``python -m tests.linkemu --target 127.0.0.1:8765 --latency-ms 150 ...``.

Prints the listen port on the first line, then runs until interrupted.
"""

from __future__ import annotations

import argparse
import signal
import threading

from tests.linkemu.profile import Cut, LinkProfile
from tests.linkemu.tcp import LinkEmulator


def main(argv: list[str] | None = None) -> int:
    """Run the TCP link emulator in the foreground."""
    parser = argparse.ArgumentParser(prog="python -m tests.linkemu", description=__doc__)
    parser.add_argument("--target", required=True, help="host:port to forward to")
    parser.add_argument("--listen-port", type=int, default=0)
    parser.add_argument("--latency-ms", type=float, default=0, help="one-way latency")
    parser.add_argument("--jitter-ms", type=float, default=0)
    parser.add_argument("--bandwidth-kbps", type=float, default=0, help="0 = unlimited")
    parser.add_argument(
        "--reset-at", default="", help="comma-separated upstream byte offsets to RST at"
    )
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    host, _, port = args.target.rpartition(":")
    cuts = [Cut(int(x)) for x in args.reset_at.split(",") if x.strip()]
    profile = LinkProfile(
        latency_ms=args.latency_ms,
        jitter_ms=args.jitter_ms,
        bandwidth_bps=args.bandwidth_kbps * 1000 or None,
        cuts=cuts,
        seed=args.seed,
    )
    emu = LinkEmulator(host or "127.0.0.1", int(port), profile, listen_port=args.listen_port)
    print(emu.start(), flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    emu.stop()
    print(f"up {emu.stats.up_bytes} B, down {emu.stats.down_bytes} B, resets {emu.stats.resets}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
