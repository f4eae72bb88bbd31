"""Two co-viewing sessions talking through the real wire format (encode → parse), with a link
that can go down: view sync, follow/look freely, hand-over, own-only undo, resync, safety."""

from __future__ import annotations

import json

import pytest

from app.dicom_viewer.annotations import Annotation
from app.dicom_viewer.calibration import Calibration
from app.dicom_viewer.coview import CoviewRefused, CoviewSession, PatientIdentity
from app.dicom_viewer.measurements import length
from app.protocol.datachannel import (
    CoviewView,
    DataChannelError,
    SharedSeries,
    encode_message,
    parse_message,
)

PATIENT = PatientIdentity("P-0001", "王^小明")
SERIES = SharedSeries(
    consultation_id="c1",
    study_uid="1.2.3",
    series_uid="1.2.3.4",
    patient_id="P-0001",
    patient_name="王^小明",
)


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


class Wire:
    """An ordered in-process channel in each direction; messages are queued while down."""

    def __init__(self) -> None:
        self.up = True
        self.queues: dict[str, list[str]] = {"a": [], "b": []}
        self.bytes = 0

    def sender(self, to: str):  # noqa: ANN201
        def send(message) -> bool:  # noqa: ANN001
            if not self.up:
                return False
            text = encode_message(message)
            self.bytes += len(text.encode())
            self.queues[to].append(text)
            return True

        return send


def pair(clock: Clock, has_b: bool = True) -> tuple[CoviewSession, CoviewSession, Wire]:
    wire = Wire()
    a = CoviewSession("dr.li", PATIENT, "c1", wire.sender("b"), clock=clock)
    b = CoviewSession(
        "dr.wang", PATIENT, "c1", wire.sender("a"), clock=clock, has_series=lambda uid: has_b
    )
    wire.sessions = {"a": a, "b": b}  # type: ignore[attr-defined]
    return a, b, wire


def pump(wire: Wire) -> None:
    while wire.queues["a"] or wire.queues["b"]:
        for name in ("a", "b"):
            while wire.queues[name]:
                wire.sessions[name].receive(parse_message(wire.queues[name].pop(0)))  # type: ignore[attr-defined]


def test_the_follower_sees_the_presenters_slice_window_and_length_with_the_same_numbers():
    clock = Clock()
    a, b, wire = pair(clock)
    a.start_share(SERIES, "s1")
    pump(wire)
    assert b.active and b.presenter == "dr.li" and not a.lacking_series
    view = CoviewView(
        series_uid="1.2.3.4", sop_instance_uid="1.9.7", frame_index=7, window_center=40,
        window_width=400, zoom=2.0, center=(100, 120), rotation=90, flip_h=True,
    )  # fmt: skip
    a.set_view(view)
    pump(wire)
    assert b.view == view
    ann = Annotation("length", [(10, 10), (40, 50)], "", "1.9.7")
    a.add_annotation(ann)
    pump(wire)
    [seen] = b.annotation_list()
    assert seen.points == ann.points and seen.author == "dr.li"
    assert b.annotations[ann.id].colour != b.colour_of("dr.wang")
    cal = Calibration(0.5, 0.5, "PixelSpacing")  # each side uses its image's own calibration
    assert length(*seen.points, cal) == pytest.approx(25.0)


def test_view_updates_are_coalesced_while_dragging_window_level():
    clock = Clock()
    a, b, wire = pair(clock)
    a.start_share(SERIES, "s1")
    pump(wire)
    before = wire.bytes
    for i in range(60):  # one second of mouse events at 60 Hz
        clock.t += 1 / 60
        a.set_view(CoviewView(series_uid="1.2.3.4", window_center=40 + i, window_width=400))
    clock.t += 1
    a.flush()
    pump(wire)
    assert b.view.window_center == 99  # the last one arrived
    assert wire.bytes - before < 11 * 260  # at most ~10 small updates a second


def test_a_follower_who_scrolls_looks_freely_until_he_follows_again():
    clock = Clock()
    a, b, wire = pair(clock)
    a.start_share(SERIES, "s1")
    pump(wire)
    b.set_view(CoviewView(series_uid="1.2.3.4", frame_index=3))
    assert not b.follow
    clock.t += 1
    a.set_view(CoviewView(series_uid="1.2.3.4", frame_index=9))
    pump(wire)
    assert b.view.frame_index == 3
    b.set_follow(True)
    assert b.view.frame_index == 9


def test_presenter_hand_over_pointer_and_roi_from_the_other_side():
    clock = Clock()
    a, b, wire = pair(clock)
    a.start_share(SERIES, "s1")
    pump(wire)
    b.move_pointer("1.9.7", 5, 5)  # not presenting: nothing sent
    b.request_presenter()
    pump(wire)
    assert a.presenter_requested_by == "dr.wang"
    assert a.hand_over("dr.wang")
    pump(wire)
    assert b.presenting and a.presenter == "dr.wang"
    clock.t += 1
    b.move_pointer("1.9.7", 30, 31)
    roi = Annotation("ellipse", [(20, 20), (60, 40)], "", "1.9.7")
    b.add_annotation(roi)
    pump(wire)
    assert a.pointer == ("1.9.7", 30, 31)
    assert a.annotations[roi.id].author == "dr.wang"


def test_people_undo_only_their_own_marks():
    clock = Clock()
    a, b, wire = pair(clock)
    a.start_share(SERIES, "s1")
    pump(wire)
    mine = a.add_annotation(Annotation("arrow", [(1, 1), (9, 9)], "", "1.9.7"))
    theirs = b.add_annotation(Annotation("text", [(5, 5)], "", "1.9.7", text="结节 23 mm"))
    pump(wire)
    assert not a.delete_annotation(theirs.id)
    assert a.undo()  # removes a's arrow, not b's text
    pump(wire)
    assert set(a.annotations) == set(b.annotations) == {theirs.id}
    assert not a.undo()
    assert b.annotations[theirs.id].text == "结节 23 mm"
    assert mine.id not in b.annotations


def test_after_an_outage_a_resync_makes_both_sides_agree():
    clock = Clock()
    a, b, wire = pair(clock)
    a.start_share(SERIES, "s1")
    pump(wire)
    wire.up = False
    clock.t += 1
    a.set_view(CoviewView(series_uid="1.2.3.4", frame_index=12))
    a.add_annotation(Annotation("length", [(1, 1), (2, 2)], "", "1.9.7"))
    b.add_annotation(Annotation("rectangle", [(3, 3), (8, 8)], "", "1.9.7"))
    assert b.view.frame_index == 0
    wire.up = True
    a.resync()
    b.resync()
    pump(wire)
    assert a.annotations == b.annotations and len(a.annotations) == 2
    assert b.view.frame_index == 12 and a.presenter == b.presenter == "dr.li"


def test_a_series_of_another_patient_is_refused_on_both_sides():
    clock = Clock()
    a, b, wire = pair(clock)
    other = SERIES.model_copy(update={"patient_id": "P-0002", "patient_name": "李^四"})
    with pytest.raises(CoviewRefused) as refused:
        a.start_share(other, "s1")
    assert refused.value.code == "other_patient"
    # a sender that does not check (an older or faulty client) is refused by the receiver
    mallory = CoviewSession("x", PatientIdentity("P-0002", "李^四"), "c1", wire.sender("b"))
    mallory.start_share(other, "s2")
    pump(wire)
    assert not b.active and b.ignored == 1


def test_the_side_without_the_series_asks_for_it_and_gets_a_small_preview():
    clock = Clock()
    a, b, wire = pair(clock, has_b=False)
    a.make_preview = lambda view: ("image/jpeg", b"\xff\xd8" + bytes(3000))
    a.start_share(SERIES, "s1")
    pump(wire)
    assert b.lacking_series and a.peer_lacks_series
    assert b.preview is not None and len(b.preview.data_b64) < 8000
    clock.t += 1
    a.set_view(CoviewView(series_uid="1.2.3.4", sop_instance_uid="1.9.8", frame_index=1))
    pump(wire)
    first = b.preview
    clock.t += 1
    a.flush()  # the presenter settled on the image: a preview of it follows
    pump(wire)
    assert b.preview is not first and b.preview.sop_instance_uid == "1.9.8"
    b.series_arrived()  # fetched meanwhile: the presenter stops sending previews
    pump(wire)
    assert not b.lacking_series and b.preview is None and not a.peer_lacks_series
    clock.t += 1
    a.set_view(CoviewView(series_uid="1.2.3.4", sop_instance_uid="1.9.9", frame_index=2))
    clock.t += 1
    a.flush()
    pump(wire)
    assert b.preview is None and b.view.sop_instance_uid == "1.9.9"


def test_only_the_consultations_own_series_can_be_shared_or_received():
    clock = Clock()
    a, b, wire = pair(clock)
    a.allowed_series = b.allowed_series = frozenset({"1.2.3.4"})
    prior = SERIES.model_copy(update={"series_uid": "1.2.3.99"})  # same patient, not attached
    with pytest.raises(CoviewRefused) as refused:
        a.start_share(prior, "s1")
    assert refused.value.code == "other_series" and not a.active and wire.queues["b"] == []
    unchecked = CoviewSession("x", PATIENT, "c1", wire.sender("b"))  # a sender that does not check
    unchecked.start_share(prior, "s2")
    pump(wire)
    assert not b.active and b.ignored == 1
    a.start_share(SERIES, "s3")
    pump(wire)
    assert b.active and b.series.series_uid == "1.2.3.4"


def test_messages_of_another_version_or_garbage_are_refused_with_a_clear_error():
    text = json.loads(encode_message(_any_view()))
    text["v"] = 2
    with pytest.raises(DataChannelError, match="version 2"):
        parse_message(json.dumps(text))
    for garbage in ("{", "[]", '{"v": 1, "type": "coview.teleport"}'):
        with pytest.raises(DataChannelError):
            parse_message(garbage)


def _any_view():  # noqa: ANN202
    from app.protocol.datachannel import ViewUpdate

    return ViewUpdate(share_id="s", seq=1, sender="a", view=CoviewView(series_uid="1"))


def test_marks_outlive_a_share_so_a_second_series_keeps_the_first_ones():
    clock = Clock()
    a, b, wire = pair(clock)
    a.allowed_series = b.allowed_series = frozenset({"1.2.3.4", "1.2.3.5"})
    a.start_share(SERIES, "s1")
    pump(wire)
    first = a.add_annotation(Annotation("length", [(1, 1), (5, 5)], "", "1.9.1"))
    theirs = b.add_annotation(Annotation("arrow", [(2, 2), (6, 6)], "", "1.9.1", text="看"))
    pump(wire)
    a.start_share(SERIES.model_copy(update={"series_uid": "1.2.3.5"}), "s2")
    pump(wire)
    assert b.series.series_uid == "1.2.3.5"
    assert set(a.annotations) == set(b.annotations) == {first.id, theirs.id}
    assert b.undo() and theirs.id not in b.annotations  # undo still walks back our own
    pump(wire)
    assert set(a.annotations) == {first.id}
