"""Co-viewing a DICOM series during a call: the Qt-free state machine of one side.

Both sides hold the same DICOM (through sync), so only the viewing state travels: the
presenter's view, the laser pointer, annotations with author and colour, and — while the
other side still fetches the series — a small preview image. Messages are the ``coview.*``
and ``annotation.*`` models of ``app.protocol.datachannel``; ``send`` puts one on the data
channel (returns False while it is down; ``resync`` re-sends everything once it is back).

Rules kept here so both sides behave the same:
- only the presenter's view is sent; a follower in "follow" mode adopts it, a follower who
  moves on his own switches to "look freely" until he follows again;
- the presenter role has an epoch (hand-overs so far): after an outage the higher epoch wins,
  ties go to the smaller name, so both sides settle on the same presenter;
- each side is the authority on its own annotations: a resync replaces the sender's marks
  and keeps ours; undo only touches our own; marks outlive a share (a later series shared in
  the same call keeps them, each mark names its image);
- measurements are not sent: each side computes them from the shared points and its own
  image's calibration (``measure``);
- a series whose patient is not the consultation's is refused (``CoviewRefused``) on both
  the sending and the receiving side.
"""

from __future__ import annotations

import base64
import logging
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field

from pydantic import BaseModel

from app.dicom_viewer.annotations import Annotation
from app.protocol.datachannel import (
    AnnotationAdd,
    AnnotationDelete,
    AnnotationUpdate,
    CoviewAnnotation,
    CoviewState,
    CoviewView,
    HaveSeries,
    Pointer,
    PresenterChange,
    Preview,
    SharedSeries,
    ShareStart,
    ShareStop,
    ViewUpdate,
)

log = logging.getLogger(__name__)

# One colour per person, distinct on grey images and from the viewer's cyan "selected" colour.
PALETTE = ("#ffb000", "#ff4fa0", "#7ddc1f", "#b48cff", "#ff7a2f", "#f0f0f0")
PREVIEW_MAX_BYTES = 30_000


class CoviewRefused(Exception):
    """Sharing refused; ``code`` names why (the UI words it in the user's language)."""

    def __init__(self, code: str, **params: str) -> None:
        super().__init__(f"{code}: {params}")
        self.code = code
        self.params = params


@dataclass(frozen=True)
class PatientIdentity:
    """The consultation's patient, as the banner shows it."""

    patient_id: str
    name: str


def _norm_name(name: str) -> str:
    text = unicodedata.normalize("NFKC", name).replace("^", " ").casefold()
    return " ".join(text.split())


def same_patient(consultation: PatientIdentity, series: SharedSeries) -> bool:
    """True when the series' patient is the consultation's (ID, else name, must match)."""
    cid, sid = consultation.patient_id.strip(), series.patient_id.strip()
    if cid and sid:
        return cid == sid
    return bool(consultation.name) and _norm_name(consultation.name) == _norm_name(
        series.patient_name
    )


def to_wire(ann: Annotation, colour: str) -> CoviewAnnotation:
    return CoviewAnnotation(
        id=ann.id,
        kind=ann.kind,  # type: ignore[arg-type]
        points=list(ann.points),
        author=ann.author,
        colour=colour,
        sop_instance_uid=ann.sop_instance_uid,
        frame=ann.frame,
        text=ann.text,
    )


def from_wire(wire: CoviewAnnotation) -> Annotation:
    return Annotation(
        kind=wire.kind,
        points=list(wire.points),
        author=wire.author,
        sop_instance_uid=wire.sop_instance_uid,
        frame=wire.frame,
        text=wire.text,
        id=wire.id,
    )


@dataclass
class _Undo:
    kind: str  # "add" | "update" | "delete": what we did
    before: CoviewAnnotation | None
    after: CoviewAnnotation | None


@dataclass
class CoviewSession:
    """One side of a co-viewing session (create per call; drive from one thread)."""

    me: str
    patient: PatientIdentity
    consultation_id: str
    send: Callable[[BaseModel], bool]
    has_series: Callable[[str], bool] = lambda uid: True
    # The consultation's own series (from its attachment records); None: not checked.
    allowed_series: frozenset[str] | None = None
    on_change: Callable[[str], None] = lambda what: None
    make_preview: Callable[[CoviewView], tuple[str, bytes] | None] = lambda view: None
    clock: Callable[[], float] = time.monotonic
    min_interval_s: float = 0.1  # view/pointer updates are coalesced to at most 10/s
    preview_settle_s: float = 0.3  # a preview once the presenter stops on an image

    share_id: str = ""
    series: SharedSeries | None = None
    presenter: str = ""
    epoch: int = 0
    follow: bool = True
    view: CoviewView | None = None  # the view shown here
    presenter_view: CoviewView | None = None  # the presenter's last view
    annotations: dict[str, CoviewAnnotation] = field(default_factory=dict)
    colours: dict[str, str] = field(default_factory=dict)
    pointer: tuple[str, float, float] | None = None  # (sop, x, y) of the presenter's dot
    preview: Preview | None = None
    lacking_series: bool = False  # we do not hold the shared series (yet)
    peer_lacks_series: bool = False
    presenter_requested_by: str = ""
    ignored: int = 0  # messages ignored (wrong patient, other share, stale)
    _seq: int = 0
    _peer_seq: dict[str, int] = field(default_factory=dict)
    _pending_view: CoviewView | None = None
    _pending_pointer: Pointer | None = None
    _last_sent: float = -1e9
    _last_view_change: float = 0.0
    _preview_sent_for: str = ""
    _undo: list[_Undo] = field(default_factory=list)

    # ---- identity, roles -------------------------------------------------------------

    def __post_init__(self) -> None:
        self.colours.setdefault(self.me, PALETTE[0])

    @property
    def active(self) -> bool:
        return self.series is not None

    @property
    def presenting(self) -> bool:
        return self.active and self.presenter == self.me

    def colour_of(self, person: str) -> str:
        if person not in self.colours:
            used = set(self.colours.values())
            free = [c for c in PALETTE if c not in used]
            self.colours[person] = free[0] if free else PALETTE[len(self.colours) % len(PALETTE)]
        return self.colours[person]

    def _next(self) -> dict:
        self._seq += 1
        return {"share_id": self.share_id, "seq": self._seq, "sender": self.me}

    def _emit(self, message: BaseModel) -> bool:
        return self.send(message)

    # ---- sharing -------------------------------------------------------------------

    def start_share(self, series: SharedSeries, share_id: str) -> None:
        """Share ``series`` with us as presenter; refuses another patient's series."""
        if series.consultation_id != self.consultation_id:
            raise CoviewRefused("other_consultation")
        if self.allowed_series is not None and series.series_uid not in self.allowed_series:
            raise CoviewRefused("other_series")
        if not same_patient(self.patient, series):
            raise CoviewRefused(
                "other_patient", series_patient=series.patient_name, patient=self.patient.name
            )
        self.share_id, self.series = share_id, series
        self.presenter, self.epoch = self.me, self.epoch + 1
        # Marks stay across shares of the call (they name their image): a second series
        # shared later keeps the first one's marks for saving.
        self.follow = True
        self.lacking_series = False
        self.peer_lacks_series = False
        self.view = self.presenter_view = CoviewView(series_uid=series.series_uid)
        self._emit(
            ShareStart(
                **self._next(),
                series=series,
                presenter=self.me,
                epoch=self.epoch,
                colour=self.colour_of(self.me),
            )
        )
        self.on_change("share")

    def stop_share(self) -> None:
        if self.active:
            self._emit(ShareStop(**self._next()))
        self._ended()

    def _ended(self) -> None:
        self.series, self.pointer, self.preview = None, None, None
        self.on_change("share")

    def series_arrived(self) -> None:
        """The shared series is here now (fetched): tell the presenter, drop the preview."""
        if not self.active or not self.lacking_series:
            return
        self.lacking_series = False
        self.preview = None
        self._emit(HaveSeries(**self._next(), series_uid=self.series.series_uid, have=True))  # type: ignore[union-attr]
        self.on_change("have")

    # ---- the view --------------------------------------------------------------------

    def set_view(self, view: CoviewView) -> None:
        """Our viewer shows ``view`` now (the user scrolled, dragged W/L, zoomed …)."""
        if not self.active or view == self.view:
            return
        self.view = view
        if self.presenting:
            self.presenter_view = view
            self._pending_view = view
            self._last_view_change = self.clock()
            self.flush()
        elif self.follow and view != self.presenter_view:
            self.follow = False  # the follower moved on his own: look freely
            self.on_change("follow")

    def set_follow(self, follow: bool) -> None:
        """Follow the presenter (adopt his view now) or look freely."""
        self.follow = follow
        if follow and self.presenter_view is not None:
            self.view = self.presenter_view
            self.on_change("view")
        self.on_change("follow")

    def move_pointer(self, sop_instance_uid: str, x: float | None, y: float | None) -> None:
        """The presenter's mouse over the image (None hides the laser dot)."""
        if not self.presenting:
            return
        self._pending_pointer = Pointer(**self._next(), sop_instance_uid=sop_instance_uid, x=x, y=y)
        self.flush()

    def flush(self) -> None:
        """Send coalesced view/pointer updates and a settled preview (call on a timer too)."""
        now = self.clock()
        if now - self._last_sent >= self.min_interval_s:
            sent = False
            if self._pending_view is not None:
                sent = self._emit(ViewUpdate(**self._next(), view=self._pending_view)) or sent
                self._pending_view = None
            if self._pending_pointer is not None:
                sent = self._emit(self._pending_pointer) or sent
                self._pending_pointer = None
            if sent:
                self._last_sent = now
        if (
            self.presenting
            and self.peer_lacks_series
            and self.view is not None
            and self._preview_key(self.view) != self._preview_sent_for
            and now - self._last_view_change >= self.preview_settle_s
        ):
            self._send_preview(self.view)

    @property
    def has_pending(self) -> bool:
        return self._pending_view is not None or self._pending_pointer is not None

    @staticmethod
    def _preview_key(view: CoviewView) -> str:
        return f"{view.sop_instance_uid}/{view.frame_index}"

    def _send_preview(self, view: CoviewView) -> None:
        made = self.make_preview(view)
        if made is None:
            return  # nothing to show yet: flush() tries again
        self._preview_sent_for = self._preview_key(view)
        mime, data = made
        if len(data) > PREVIEW_MAX_BYTES:
            log.warning("preview of %d bytes not sent (limit %d)", len(data), PREVIEW_MAX_BYTES)
            return
        self._emit(
            Preview(
                **self._next(),
                sop_instance_uid=view.sop_instance_uid,
                mime=mime,  # type: ignore[arg-type]
                data_b64=base64.b64encode(data).decode("ascii"),
            )
        )

    # ---- presenter hand-over -----------------------------------------------------------

    def hand_over(self, to: str) -> bool:
        """Give the presenter role to ``to`` (only the presenter can)."""
        if not self.presenting or to == self.me:
            return False
        self.presenter, self.epoch = to, self.epoch + 1
        self.presenter_requested_by = ""
        self.follow = True
        self.pointer = None
        self._emit(PresenterChange(**self._next(), presenter=to, epoch=self.epoch))
        self.on_change("presenter")
        return True

    def request_presenter(self) -> None:
        """Ask the presenter for the role (he hands over, or not)."""
        if self.active and not self.presenting:
            self._emit(
                PresenterChange(**self._next(), presenter=self.me, epoch=self.epoch, request=True)
            )

    # ---- annotations -----------------------------------------------------------------

    def add_annotation(self, ann: Annotation) -> CoviewAnnotation:
        """A mark we drew (author set to us)."""
        ann.author = self.me
        wire = to_wire(ann, self.colour_of(self.me))
        self.annotations[wire.id] = wire
        self._undo.append(_Undo("add", None, wire))
        self._emit(AnnotationAdd(**self._next(), annotation=wire))
        self.on_change("annotations")
        return wire

    def update_annotation(self, ann: Annotation) -> bool:
        """We moved or re-texted one of our marks; others' marks are refused."""
        before = self.annotations.get(ann.id)
        if before is None or before.author != self.me:
            return False
        ann.author = self.me
        wire = to_wire(ann, before.colour)
        self.annotations[wire.id] = wire
        self._undo.append(_Undo("update", before, wire))
        self._emit(AnnotationUpdate(**self._next(), annotation=wire))
        self.on_change("annotations")
        return True

    def delete_annotation(self, ann_id: str) -> bool:
        before = self.annotations.get(ann_id)
        if before is None or before.author != self.me:
            return False
        del self.annotations[ann_id]
        self._undo.append(_Undo("delete", before, None))
        self._emit(AnnotationDelete(**self._next(), annotation_id=ann_id))
        self.on_change("annotations")
        return True

    def undo(self) -> bool:
        """Undo our own last change (never another person's)."""
        while self._undo:
            step = self._undo.pop()
            if step.kind == "add" and step.after is not None:
                if step.after.id not in self.annotations:
                    continue
                del self.annotations[step.after.id]
                self._emit(AnnotationDelete(**self._next(), annotation_id=step.after.id))
            elif step.before is not None:
                self.annotations[step.before.id] = step.before
                cls = AnnotationAdd if step.kind == "delete" else AnnotationUpdate
                self._emit(cls(**self._next(), annotation=step.before))
            self.on_change("annotations")
            return True
        return False

    def annotation_list(self) -> list[Annotation]:
        return [from_wire(a) for a in self.annotations.values()]

    # ---- resync after a (re)connection -----------------------------------------------

    def resync(self) -> None:
        """Send our whole state (the channel (re)opened)."""
        if not self.active:
            return
        if self.lacking_series:
            self._tell_have()  # still fetching: the presenter keeps the preview coming
        self._emit(
            CoviewState(
                **self._next(),
                series=self.series,
                presenter=self.presenter,
                epoch=self.epoch,
                colours=dict(self.colours),
                view=self.presenter_view if self.presenting else None,
                annotations=[a for a in self.annotations.values() if a.author == self.me],
            )
        )

    # ---- what arrives ---------------------------------------------------------------

    def receive(self, message: BaseModel) -> None:
        """Apply one co-viewing message from the other side."""
        sender = getattr(message, "sender", "")
        seq = getattr(message, "seq", 0)
        if sender == self.me:
            return
        if isinstance(message, ShareStart):
            self._on_share_start(message)
            return
        if isinstance(message, CoviewState):
            self._on_state(message)
            return
        if not self.active or message.share_id != self.share_id:  # type: ignore[attr-defined]
            self.ignored += 1
            return
        if seq <= self._peer_seq.get(sender, -1):
            self.ignored += 1  # stale (re-sent or overtaken)
            return
        self._peer_seq[sender] = seq
        if isinstance(message, ShareStop):
            self._ended()
        elif isinstance(message, ViewUpdate):
            self._on_view(sender, message.view)
        elif isinstance(message, Pointer):
            if sender == self.presenter:
                sop = message.sop_instance_uid or (
                    self.presenter_view.sop_instance_uid if self.presenter_view else ""
                )
                self.pointer = (
                    None if message.x is None or message.y is None else (sop, message.x, message.y)
                )
                self.on_change("pointer")
        elif isinstance(message, PresenterChange):
            self._on_presenter(message)
        elif isinstance(message, HaveSeries):
            self.peer_lacks_series = not message.have
            if self.peer_lacks_series and self.presenting and self.view is not None:
                self._send_preview(self.view)
        elif isinstance(message, Preview):
            self.preview = message
            self.on_change("preview")
        elif isinstance(message, AnnotationAdd | AnnotationUpdate):
            if message.annotation.author != sender:
                self.ignored += 1  # nobody edits another person's marks
                return
            self.colours.setdefault(sender, message.annotation.colour)
            self.annotations[message.annotation.id] = message.annotation
            self.on_change("annotations")
        elif isinstance(message, AnnotationDelete):
            old = self.annotations.get(message.annotation_id)
            if old is not None and old.author == sender:
                del self.annotations[message.annotation_id]
                self.on_change("annotations")

    def _accept_series(self, series: SharedSeries) -> bool:
        outside = self.allowed_series is not None and series.series_uid not in self.allowed_series
        if (
            series.consultation_id != self.consultation_id
            or not same_patient(self.patient, series)
            or outside
        ):
            log.warning("refused a shared series of another patient or consultation")
            self.ignored += 1
            self.on_change("refused")
            return False
        return True

    def _on_share_start(self, message: ShareStart) -> None:
        if not self._accept_series(message.series):
            self._emit(ShareStop(share_id=message.share_id, seq=0, sender=self.me))
            return
        self.share_id, self.series = message.share_id, message.series
        self._peer_seq = {message.sender: message.seq}
        self.colours[message.sender] = message.colour
        if self.colours.get(self.me) == message.colour:
            self.colours[self.me] = next(c for c in PALETTE if c != message.colour)
        self.presenter, self.epoch = message.presenter, message.epoch
        # Marks stay across shares of the call (they name their image): a second series
        # shared later keeps the first one's marks for saving.
        self.follow = True
        self.view = self.presenter_view = CoviewView(series_uid=message.series.series_uid)
        self.lacking_series = not self.has_series(message.series.series_uid)
        self._tell_have()
        self.on_change("share")

    def _tell_have(self) -> None:
        series = self.series
        if series is not None:
            self._emit(
                HaveSeries(
                    **self._next(), series_uid=series.series_uid, have=not self.lacking_series
                )
            )

    def _on_view(self, sender: str, view: CoviewView) -> None:
        if sender != self.presenter:
            return
        self.presenter_view = view
        if self.follow:
            self.view = view
            self.on_change("view")

    def _on_presenter(self, message: PresenterChange) -> None:
        if message.request:
            if self.presenting:
                self.presenter_requested_by = message.presenter
                self.on_change("presenter_request")
            return
        if message.epoch < self.epoch:
            self.ignored += 1
            return
        self.presenter, self.epoch = message.presenter, message.epoch
        self.pointer = None
        if self.presenting:
            self.presenter_view = self.view
            self._pending_view = self.view
            self.flush()
        self.on_change("presenter")

    def _on_state(self, message: CoviewState) -> None:
        if message.series is None:
            return
        if not self._accept_series(message.series):
            return
        if message.share_id != self.share_id:
            self.share_id, self.series = message.share_id, message.series
            self.view = self.presenter_view = CoviewView(series_uid=message.series.series_uid)
            self.lacking_series = not self.has_series(message.series.series_uid)
            self._peer_seq = {}
            self._tell_have()
            self.on_change("share")
        self._peer_seq[message.sender] = message.seq
        for person, colour in message.colours.items():
            if person != self.me:
                self.colours[person] = colour
        theirs = {a.id: a for a in message.annotations if a.author == message.sender}
        self.annotations = {
            k: a for k, a in self.annotations.items() if a.author != message.sender
        } | theirs
        if (message.epoch, _rank(message.presenter)) > (self.epoch, _rank(self.presenter)):
            self.presenter, self.epoch = message.presenter, message.epoch
            self.on_change("presenter")
        if message.view is not None and message.presenter == self.presenter:
            self._on_view(message.sender, message.view)
        self.on_change("annotations")


def _rank(name: str) -> tuple[int, str]:
    """Tie-break of equal epochs: the smaller name wins (ranks higher)."""
    return (0, "".join(chr(0x10FFFF - ord(c)) for c in name))
