"""The GUI event loop keeps turning while blocking and asyncio work run in the background."""

from __future__ import annotations

import asyncio
import threading
import time

from PySide6.QtCore import QElapsedTimer, QTimer

from app import tasks
from app.ui.bridge import run_async, run_in_worker


def test_gui_never_stalls_while_background_jobs_run(qtbot):
    gaps: list[float] = []
    clock = QElapsedTimer()
    clock.start()
    last = [clock.elapsed()]

    def tick() -> None:
        now = clock.elapsed()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer()
    timer.setInterval(5)
    timer.timeout.connect(tick)
    timer.start()

    results: dict[str, object] = {}
    threads: dict[str, str] = {}

    def blocking_job() -> str:
        time.sleep(2.0)  # a blocking disk/network call
        return "blocking done"

    async def async_job() -> str:
        threads["async"] = threading.current_thread().name
        await asyncio.sleep(1.0)
        return "async done"

    def on_blocking(value):
        results["blocking"] = value
        threads["blocking_callback"] = threading.current_thread().name

    run_in_worker(blocking_job, on_done=on_blocking)
    run_async(async_job(), on_done=lambda v: results.__setitem__("async", v))
    qtbot.waitUntil(lambda: len(results) == 2, timeout=5000)
    timer.stop()

    assert results == {"blocking": "blocking done", "async": "async done"}
    # callbacks come back on the GUI thread; the coroutine ran on the asyncio thread
    assert threads["blocking_callback"] == threading.main_thread().name
    assert threads["async"] == tasks.async_loop().thread.name
    assert len(gaps) > 100, "the GUI timer barely ran"
    assert max(gaps) < 50, f"GUI stalled for {max(gaps)} ms"


def test_errors_in_background_reach_the_gui_callback(qtbot):
    errors: list[BaseException] = []

    def broken() -> None:
        raise OSError("disk unplugged")

    run_in_worker(broken, on_error=errors.append)
    qtbot.waitUntil(lambda: bool(errors), timeout=2000)
    assert isinstance(errors[0], OSError) and "unplugged" in str(errors[0])


def test_asyncio_loop_is_lazy_and_single():
    tasks.shutdown()
    assert tasks._async is None  # nothing started until someone needs it
    first = tasks.async_loop()
    assert tasks.async_loop() is first
    assert first.submit(asyncio.sleep(0, result=7)).result(2) == 7
    tasks.shutdown()
    assert not first.thread.is_alive()


def test_a_worker_import_does_not_make_shiboken_read_its_source(tmp_path, monkeypatch) -> None:
    import inspect
    import sys

    import app.ui  # noqa: F401 - installs the fix

    read: list[object] = []
    real = inspect.getsource
    monkeypatch.setattr(inspect, "getsource", lambda obj: read.append(obj) or real(obj))
    (tmp_path / "yq_worker_imported.py").write_text("VALUE = 7\n", "utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    got: list[int] = []

    def work() -> None:
        import yq_worker_imported  # an import statement: shiboken's __import__ sees it

        got.append(yq_worker_imported.VALUE)

    worker = threading.Thread(target=work)
    worker.start()
    worker.join(10)
    sys.modules.pop("yq_worker_imported", None)
    assert got == [7]
    assert not [m for m in read if getattr(m, "__name__", "") == "yq_worker_imported"]
