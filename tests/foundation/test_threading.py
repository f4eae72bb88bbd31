"""The GUI event loop keeps turning while blocking and asyncio work run in the background."""

from __future__ import annotations

import asyncio
import threading

from PySide6.QtCore import QTimer

from app import tasks
from app.ui.bridge import run_async, run_in_worker, run_network


def test_gui_keeps_turning_while_background_jobs_run(qtbot):
    """Each job waits until the GUI thread has run an event while the job was in progress:
    had the job run on (or blocked) the GUI thread, that event could never run and the job
    would report it. Cause and effect, not a wall-clock gap on a possibly loaded machine."""
    results: dict[str, object] = {}
    threads: dict[str, str] = {}
    started = {"blocking": threading.Event(), "async": threading.Event()}
    gui_turned = {"blocking": threading.Event(), "async": threading.Event()}

    def tick() -> None:
        for name, event in started.items():
            if event.is_set():
                gui_turned[name].set()

    timer = QTimer()
    timer.setInterval(5)
    timer.timeout.connect(tick)
    timer.start()

    def blocking_job() -> str:
        started["blocking"].set()
        # a blocking disk/network call that lasts until the GUI has shown it is alive
        if not gui_turned["blocking"].wait(60):
            return "the GUI thread did not turn while the blocking job ran"
        return "blocking done"

    async def async_job() -> str:
        threads["async"] = threading.current_thread().name
        started["async"].set()
        while not gui_turned["async"].is_set():
            await asyncio.sleep(0.01)
        return "async done"

    def on_blocking(value):
        results["blocking"] = value
        threads["blocking_callback"] = threading.current_thread().name

    run_in_worker(blocking_job, on_done=on_blocking)
    run_async(async_job(), on_done=lambda v: results.__setitem__("async", v))
    qtbot.waitUntil(lambda: len(results) == 2, timeout=60_000)
    timer.stop()

    assert results == {"blocking": "blocking done", "async": "async done"}
    # callbacks come back on the GUI thread; the coroutine ran on the asyncio thread
    assert threads["blocking_callback"] == threading.main_thread().name
    assert threads["async"] == tasks.async_loop().thread.name


def test_errors_in_background_reach_the_gui_callback(qtbot):
    errors: list[BaseException] = []

    def broken() -> None:
        raise OSError("disk unplugged")

    run_in_worker(broken, on_error=errors.append)
    qtbot.waitUntil(lambda: bool(errors), timeout=60000)
    assert isinstance(errors[0], OSError) and "unplugged" in str(errors[0])


def test_a_dead_link_does_not_queue_the_patient_list_behind_it(qtbot):
    """More requests hang on an unreachable hub than there are threads of either pool; a
    local read (what shows the patient list) still comes back."""
    released = threading.Event()
    hanging = tasks.NETWORK_WORKERS + tasks.worker_pool()._max_workers
    for _ in range(hanging):
        run_network(released.wait, 120)
    shown: list[str] = []
    try:
        run_in_worker(lambda: "张桂兰", on_done=shown.append)
        qtbot.waitUntil(lambda: bool(shown), timeout=60_000)
    finally:
        released.set()
    assert shown == ["张桂兰"]


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


def test_a_load_that_finishes_late_does_not_hide_a_newer_one():
    """The records list loaded before a note was saved arrives after the one loaded after
    it (two workers, out of order): the list must keep showing the note."""
    from app.ui.bridge import NewestOnly

    shown: list[list[str]] = []
    records = NewestOnly()
    before_the_note = records.deliver(shown.append)
    after_the_note = records.deliver(shown.append)
    after_the_note(["血压偏高，建议复查"])
    before_the_note([])
    assert shown == [["血压偏高，建议复查"]]
