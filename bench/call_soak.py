"""Two-client soak: the whole app twice (separate processes) in calls through a real hub.

    .venv/bin/python bench/call_soak.py                      # everything, as the issue asks
    .venv/bin/python bench/call_soak.py --runs 3 --minutes 1 --memory-minutes 5 --calls 5

Three parts, each with preview, remote video, the statistics panel and chat active:

1. ``--runs`` calls of ``--minutes`` each (default 20 × 5 min), the two apps restarted for
   every run: GUI stalls over 200 ms on either GUI thread, by wall clock (the strict bar),
   and how many of them the GUI thread spent on its own CPU (ours, not the scheduler's);
   on Linux each stall's cause: ``cpu``, ``queue`` (runnable, no core free) or ``asleep``
   (waiting for the GIL, a lock, or idle — the stall's sampled stack says which).
2. One call of ``--memory-minutes`` (default 30): resident memory of each app after the
   first minute and at the end (growth must stay under 50 MB per client).
3. ``--calls`` consecutive calls (default 20, ``--call-seconds`` each) without restarting
   either app: every one must connect with video both ways.

The machine's load (``os.getloadavg``) is printed beside every figure: on a shared box a
wall-clock stall is often another process's doing, which is why the CPU column exists.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.media.soak import Soak  # noqa: E402

STALL_S = 0.2


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load {one:.1f}/{five:.1f}/{fifteen:.1f}"


def _hold_call(soak: Soak, seconds: float) -> dict[str, dict]:
    """Keep the current call up for ``seconds``; per client: frames, stalls, memory."""
    first = {c.name: dict(c.last) for c in soak.clients}
    marks = {c.name: len(c.statuses) for c in soak.clients}
    began = time.monotonic()
    soak.wait(lambda: time.monotonic() - began > seconds, seconds + 60, "the call to run")
    out = {}
    for client in soak.clients:
        last = client.last
        stalls = [s for st in client.statuses[marks[client.name] :] for s in st["stalls"]]
        over = [s for s in stalls if s["gap_s"] > STALL_S]
        out[client.name] = {
            "remote_fps": (last["remote_frames"] - first[client.name]["remote_frames"]) / seconds,
            "preview_fps": (last["preview_frames"] - first[client.name]["preview_frames"])
            / seconds,
            "stalls_wall": len(over),
            "longest_s": max((s["gap_s"] for s in stalls), default=0.0),
            "stalls_ours": len([s for s in over if s["gui_cpu_s"] > STALL_S]),
            "rss_start": first[client.name]["rss_mb"],
            "rss_end": last["rss_mb"],
            "chat": last["chat_lines"],
            "connected": last["media"] == "connected",
            "over": over,
        }
    return out


def _causes(f: dict) -> str:
    """How the GUI thread spent the stalls: its CPU, a run queue, or asleep (GIL/lock)."""
    over = f["over"]
    if not over:
        return ""
    causes = Counter(s["cause"] for s in over)
    queued = max(over, key=lambda s: s["gap_s"])["queued_s"]
    longest = "" if queued is None else f", longest queued {queued * 1000:.0f} ms"
    return "; " + ", ".join(f"{k} {v}" for k, v in sorted(causes.items())) + longest


def _print_stall(name: str, stall: dict) -> None:
    queued = stall["queued_s"]
    where = stall["where"].strip().splitlines()
    print(
        f"  {name} stall {stall['gap_s'] * 1000:.0f} ms: own CPU {stall['gui_cpu_s'] * 1000:.0f} ms"
        f", queued {'?' if queued is None else f'{queued * 1000:.0f}'} ms"
        f" -> {stall['cause']}; sampled at: {where[-1] if where else '-'}",
        flush=True,
    )


def _line(label: str, figures: dict[str, dict]) -> str:
    parts = [label]
    for name, f in figures.items():
        parts.append(
            f"{name}: {f['remote_fps']:.1f} fps remote, {f['preview_fps']:.1f} preview, "
            f"stalls>200ms {f['stalls_wall']} (ours {f['stalls_ours']}{_causes(f)}), "
            f"longest {f['longest_s'] * 1000:.0f} ms, RSS {f['rss_start']:.0f}->{f['rss_end']:.0f} MB"
        )
    return " | ".join(parts) + f" | {_load()}"


def soak_runs(runs: int, minutes: float, workdir: Path, shots: Path | None = None) -> bool:
    clean = True
    for n in range(runs):
        soak = Soak(workdir / f"run{n}")
        try:
            soak.wait_ready()
            soak.call()
            figures = _hold_call(soak, minutes * 60)
            if shots is not None and n == 0:
                for client in soak.clients:
                    client.send(f"screenshot {shots / f'call-{client.name}.png'}")
            soak.hangup()
        finally:
            soak.close()
        ok = all(f["stalls_wall"] == 0 and f["connected"] for f in figures.values())
        clean &= ok
        print(_line(f"run {n + 1}/{runs} {'clean' if ok else 'STALLED'}", figures), flush=True)
        for name, f in figures.items():
            for s in f["over"]:
                _print_stall(name, s)
    return clean


def _print_heap(soak: Soak, n: int, unit: str = "min") -> None:
    """RSS and where it is (glibc heap in use/free/mmapped, Python blocks, threads)."""
    for client in soak.clients:
        last = client.last
        print(
            f"  {unit} {n:>2} {client.name}: RSS {last['rss_mb']:.0f} MB {last.get('heap', {})}",
            flush=True,
        )


def _print_trimmed(soak: Soak, when: str) -> None:
    """Each client's RSS once garbage is collected and glibc gave back what is free."""
    for client in soak.clients:
        client.latest.pop("trimmed", None)
        client.send("trim")
    for client in soak.clients:
        soak.wait(lambda c=client: "trimmed" in c.latest, 30, f"{client.name} trimmed")
        trimmed = client.latest["trimmed"]
        print(
            f"  {when}, collected and trimmed, {client.name}: RSS {trimmed['rss_mb']:.0f} MB "
            f"{trimmed['heap']}",
            flush=True,
        )


def _census(soak: Soak) -> dict[str, dict[str, int]]:
    """Each client's live Python objects by type (the commonest)."""
    for client in soak.clients:
        client.latest.pop("census", None)
        client.send("census")
    for client in soak.clients:
        soak.wait(lambda c=client: "census" in c.latest, 60, f"{client.name} census")
    return {c.name: c.latest["census"]["counts"] for c in soak.clients}


def _print_growth(
    before: dict[str, dict[str, int]], after: dict[str, dict[str, int]], since: str
) -> None:
    for name, counts in after.items():
        old = before.get(name, {})
        grew = {k: v - old.get(k, 0) for k, v in counts.items() if v - old.get(k, 0) > 100}
        print(f"{name}: Python objects that grew since {since}: {grew}", flush=True)


def memory_run(minutes: float, workdir: Path) -> bool:
    soak = Soak(workdir / "memory")
    try:
        soak.wait_ready()
        soak.call()
        warm = _hold_call(soak, 60)
        _print_heap(soak, 1)
        census = _census(soak)
        figures = {}
        for minute in range(2, int(minutes) + 1):
            figures = _hold_call(soak, 60)
            _print_heap(soak, minute)
        _print_growth(census, _census(soak), "minute 1")
        _print_trimmed(soak, "at the end")
        soak.hangup()
    finally:
        soak.close()
    ok = True
    for name, f in figures.items():
        growth = f["rss_end"] - warm[name]["rss_end"]
        ok &= growth < 50
        print(
            f"memory {name}: {warm[name]['rss_end']:.0f} MB after 1 min, {f['rss_end']:.0f} MB "
            f"after {minutes:.0f} min: growth {growth:+.0f} MB ({'ok' if growth < 50 else 'TOO MUCH'})",
            flush=True,
        )
    print(_line("memory call", figures), flush=True)
    return ok


def consecutive_calls(calls: int, seconds: float, workdir: Path) -> bool:
    """Calls back to back in the same two apps; memory compared between hung-up states.

    The first call loads the media libraries and starts their threads, so growth is counted
    from the end of call 1, each time after garbage collection and a heap trim (the RSS of
    a running app includes garbage not yet collected and free heap not yet returned).
    """
    soak = Soak(workdir / "consecutive")
    ok = True
    try:
        soak.wait_ready()
        census: dict[str, dict[str, int]] = {}
        after_first: dict[str, float] = {}
        for n in range(calls):
            soak.call()
            figures = _hold_call(soak, seconds)
            soak.hangup()
            good = all(f["connected"] and f["remote_fps"] > 3 for f in figures.values())
            ok &= good
            print(_line(f"call {n + 1}/{calls} {'ok' if good else 'BAD'}", figures), flush=True)
            _print_trimmed(soak, f"after call {n + 1}")
            if n == 0:
                census = _census(soak)
                after_first = {c.name: c.latest["trimmed"]["rss_mb"] for c in soak.clients}
        if calls > 1:
            _print_growth(census, _census(soak), "call 1")
            growth = {
                c.name: round(c.latest["trimmed"]["rss_mb"] - after_first[c.name], 1)
                for c in soak.clients
            }
            print(f"memory growth from call 1 to call {calls} (hung up, trimmed): {growth}")
    finally:
        soak.close()
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--memory-minutes", type=float, default=30.0)
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--call-seconds", type=float, default=20.0)
    parser.add_argument("--parts", default="runs,memory,calls")
    parser.add_argument("--screenshots", type=Path, help="save both windows after the first run")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    workdir = Path(tempfile.mkdtemp(prefix="call-soak-"))
    print(f"call soak in {workdir}; {os.cpu_count()} CPUs; {_load()}", flush=True)
    ok = True
    if "runs" in parts:
        ok &= soak_runs(args.runs, args.minutes, workdir, args.screenshots)
    if "memory" in parts:
        ok &= memory_run(args.memory_minutes, workdir)
    if "calls" in parts:
        ok &= consecutive_calls(args.calls, args.call_seconds, workdir)
    print("SOAK", "CLEAN" if ok else "NOT CLEAN", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
