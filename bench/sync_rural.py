"""Rural-link sync benchmark: a generated CT study uploaded through the link emulator.

The engine runs on its own worker thread with the product's retry policy, as in the app.
Figures (printed): completion, wire bytes vs bytes the hub needed, recompression ratio, the
same upload with a plain "re-upload the file on failure" baseline in the same run, and the
time to pull 10,000 documents into a fresh profile on loopback.

    python bench/sync_rural.py            # full: 200 MB study, 2 Mbit/s, 300 ms RTT, 10 resets
    python bench/sync_rural.py --quick    # 40 slices (~21 MB raw), same link
    python bench/sync_rural.py --quick --big-file-mb 8   # and one 8 MB file, same link and resets
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.backoff import Backoff  # noqa: E402
from app.credentials import use_memory_keyring  # noqa: E402
from app.protocol.sync import DocType  # noqa: E402
from app.sync.attachments import attach_files  # noqa: E402
from app.sync.errors import HubError  # noqa: E402
from app.sync.hub_client import HubClient  # noqa: E402
from app.sync.status import IDLE, SYNCING  # noqa: E402
from tests.linkemu import Cut, LinkEmulator, LinkProfile  # noqa: E402
from tests.support.ct_phantom import write_ct_series  # noqa: E402
from tests.sync.hub_harness import PASSWORD, HubProcess, make_client  # noqa: E402

SLICE_BYTES = 512 * 512 * 2


class RequestTally:
    """Counts what the engine asks for over HTTP (request line + headers, and bodies that are
    not blob bytes), to split the wire overhead into headers, JSON and discarded bytes."""

    def __init__(self) -> None:
        import requests

        self.requests = 0
        self.header_bytes = 0
        self.json_bytes = 0
        self.active = False
        real = requests.Session.send
        tally = self

        def send(session, request, **kwargs):  # noqa: ANN001, ANN202
            if tally.active:
                tally.requests += 1
                tally.header_bytes += (
                    len(request.method)
                    + len(request.path_url)
                    + 13
                    + sum(len(k) + len(v) + 4 for k, v in request.headers.items())
                    + 2
                )
                if request.headers.get("Content-Type", "").startswith("application/json"):
                    tally.json_bytes += len(request.body or b"")
            return real(session, request, **kwargs)

        requests.Session.send = send


def _profile(args, total: int, seed: int) -> LinkProfile:
    rng = random.Random(seed)
    offsets = sorted(rng.randrange(total // 20, total) for _ in range(args.resets))
    return LinkProfile(
        latency_ms=args.rtt_ms / 2,
        jitter_ms=args.jitter_ms,
        bandwidth_bps=args.kbps * 1000,
        cuts=[Cut(o, "up") for o in offsets],
        seed=seed,
    )


def run_engine(hub: HubProcess, args, folder: Path, study: list[Path]) -> dict:
    streams = (
        {"upload_streams": args.streams, "resetting_link_streams": args.streams}
        if args.streams
        else {}
    )
    # The product's retry policy (default Backoff), not the tests' fast one.
    client = make_client(
        folder / "client", hub.url, "doc1", stall_s=20, backoff=Backoff(), **streams
    )
    patient = client.store.create(
        DocType.patient, {"name": "Phantom", "patient_number": "PH0001", "sex": "O"}
    )
    t = time.monotonic()
    attach_files(client.store, client.blobs, study, patient.id, title="CT")
    prep = time.monotonic() - t
    need = client.engine.status().bytes_remaining
    emu = LinkEmulator("127.0.0.1", hub.port, _profile(args, need, 1))
    emu.start()
    client.hub.base_url = f"http://127.0.0.1:{emu.port}"
    tally = RequestTally()
    tally.active = True
    failed: list[str] = []
    client.engine.on_status(
        lambda st: failed.append(st.state) if st.state not in (IDLE, SYNCING) else None
    )
    t = time.monotonic()
    client.engine.start()  # its own worker thread, as in the app
    while client.store.outbox_size():
        time.sleep(0.1)
    took = time.monotonic() - t
    failures = len(failed)
    tally.active = False
    client.close()
    emu.stop()
    return {
        "need": need,
        "sent": emu.stats.up_bytes,
        "time": took,
        "resets": len(emu.stats.cuts_fired),
        "failures": failures,
        "prep": prep,
        "tally": tally,
        "blobs": len(study),
    }


def run_baseline(hub: HubProcess, args, study_blobs: list[bytes]) -> dict:
    """Each file in one request; any failure re-sends that whole file from the start."""
    need = sum(len(b) for b in study_blobs)
    emu = LinkEmulator("127.0.0.1", hub.port, _profile(args, need, 1))
    emu.start()
    client = HubClient(f"http://127.0.0.1:{emu.port}", timeout=20)
    client.login("doc1", PASSWORD)
    t = time.monotonic()
    failures = 0
    for data in study_blobs:
        while True:
            try:
                r = client.authed(
                    "POST",
                    "/api/v1/blobs/uploads",
                    headers={"Tus-Resumable": "1.0.0", "Upload-Length": str(len(data))},
                )
                # Time to send the whole file at line rate on top of the 20 s: the reply only
                # comes after the kernel has drained the file, and a shorter wait would give up
                # on a healthy transfer and start again while the old bytes still flow.
                wait = 20 + 2 * len(data) * 8 / (args.kbps * 1000)
                r = client.authed(
                    "PATCH",
                    r.headers["Location"],
                    data=data,
                    timeout=(15, wait),
                    headers={
                        "Tus-Resumable": "1.0.0",
                        "Content-Type": "application/offset+octet-stream",
                        "Upload-Offset": "0",
                    },
                )
                if r.status_code == 204:
                    break
                failures += 1
            except HubError:
                failures += 1
                time.sleep(0.5)
    took = time.monotonic() - t
    emu.stop()
    return {"need": need, "sent": emu.stats.up_bytes, "time": took, "failures": failures}


def pull_benchmark(hub: HubProcess, folder: Path, n: int) -> dict:
    writer = make_client(folder / "seed", hub.url, "doc2", push_batch=500)
    patient = writer.store.create(DocType.patient, {"name": "批量"})
    for i in range(n - 1):
        writer.store.create(DocType.note, {"text": f"记录 {i} " + "x" * 200}, patient_id=patient.id)
    t = time.monotonic()
    writer.engine.push_documents()
    push_time = time.monotonic() - t
    writer.close()
    fresh = make_client(folder / "fresh", hub.url, "doc2", pull_limit=1000)
    t = time.monotonic()
    fresh.engine.pull()
    took = time.monotonic() - t
    count = fresh.store.count()
    fresh.close()
    return {"pull_time": took, "count": count, "push_time": push_time}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="40 slices instead of 381 (200 MB)")
    parser.add_argument("--slices", type=int, default=0)
    parser.add_argument("--kbps", type=float, default=2000)
    parser.add_argument("--rtt-ms", type=float, default=300)
    parser.add_argument("--jitter-ms", type=float, default=20)
    parser.add_argument("--resets", type=int, default=10)
    parser.add_argument("--docs", type=int, default=10_000)
    parser.add_argument(
        "--streams", type=int, default=0, help="fixed upload streams (default: adaptive)"
    )
    parser.add_argument(
        "--engine-only", action="store_true", help="skip the baseline and the pull figure"
    )
    parser.add_argument(
        "--big-file-mb",
        type=float,
        default=0,
        help="also compare on one file of this size (random bytes, as a video or large PDF)",
    )
    args = parser.parse_args()
    slices = args.slices or (40 if args.quick else 381)
    use_memory_keyring()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        study = write_ct_series(root / "study", slices)
        raw = sum(p.stat().st_size for p in study)
        print(
            f"study: {slices} CT slices 512x512, {raw / 1e6:.1f} MB raw DICOM; link {args.kbps:.0f} kbit/s, "
            f"RTT {args.rtt_ms:.0f} ms, {args.resets} resets"
        )
        compare(args, root / "study-run", study, raw, "raw DICOM", with_pull=True)
        if args.big_file_mb:
            big = root / "big" / "recording.bin"
            big.parent.mkdir()
            big.write_bytes(random.Random(5).randbytes(int(args.big_file_mb * 1e6)))
            print(
                f"one file: {big.stat().st_size / 1e6:.1f} MB (incompressible), same link and number of resets"
            )
            compare(args, root / "big-run", [big], big.stat().st_size, "the file", with_pull=False)
    return 0


def compare(args, root: Path, files: list[Path], raw: int, raw_name: str, with_pull: bool) -> None:
    """The engine, then the baseline on a fresh hub over the same link and cuts (and the pull)."""
    hub = HubProcess(root / "hub").start()
    try:
        ours = run_engine(hub, args, root / "ours", files)
    finally:
        hub.stop()
    ratio = ours["sent"] / ours["need"]
    print(
        f"engine:   recompressed (lossless) in {ours['prep']:.1f} s; hub needed {ours['need'] / 1e6:.2f} MB "
        f"= {ours['need'] / raw:.3f} of {raw_name}"
    )
    print(
        f"          wire (client->hub, all requests) {ours['sent'] / 1e6:.2f} MB = {ratio:.4f} x needed "
        f"= {ours['sent'] / raw:.3f} of {raw_name}; {ours['resets']} resets fired, "
        f"{ours['failures']} failed cycles; {ours['time']:.1f} s "
        f"({ours['need'] * 8 / ours['time'] / 1000:.0f} kbit/s goodput of {args.kbps:.0f})"
    )
    tally = ours["tally"]
    dropped = ours["sent"] - ours["need"] - tally.header_bytes - tally.json_bytes
    print(
        f"          overhead {(ours['sent'] - ours['need']) / 1e3:.0f} kB: {tally.requests} requests "
        f"({tally.requests / ours['blobs']:.2f} per file) with {tally.header_bytes / 1e3:.0f} kB of request "
        f"lines + headers, {tally.json_bytes / 1e3:.0f} kB JSON, ~{dropped / 1e3:.0f} kB received by the hub "
        f"but not kept (cut mid-request)"
    )
    print(f"          requirement wire <= 1.02 x needed: {'MET' if ratio <= 1.02 else 'NOT MET'}")
    if args.engine_only:
        return
    from app.sync.dicom_transfer import for_transfer

    blobs = [for_transfer(p.read_bytes()).data for p in files]
    base_hub = HubProcess(root / "hub-baseline").start()
    try:
        base = run_baseline(base_hub, args, blobs)
        print(
            f"baseline: whole-file re-upload on failure (same files, same link, same cuts): wire "
            f"{base['sent'] / 1e6:.2f} MB = {base['sent'] / base['need']:.4f} x needed = "
            f"{base['sent'] / raw:.3f} of {raw_name}; {base['failures']} failed files; {base['time']:.1f} s "
            f"({base['need'] * 8 / base['time'] / 1000:.0f} kbit/s goodput)"
        )
        print(
            f"          uncompressed would need {raw * 8 / (args.kbps * 1000):.0f} s at line rate"
        )
        if with_pull:
            pulled = pull_benchmark(base_hub, root / "pull", args.docs)
            print(
                f"pull:     {pulled['count']} documents into a fresh profile on loopback in "
                f"{pulled['pull_time']:.1f} s ({pulled['count'] / pulled['pull_time']:.0f} docs/s); "
                f"pushing them took {pulled['push_time']:.1f} s"
            )
    finally:
        base_hub.stop()


if __name__ == "__main__":
    raise SystemExit(main())
