"""Messages on the call's data channel (peer to peer), versioned.

Envelope: ``{"v": 1, "type": "<family>.<name>", "id": "<uuid>", "sent_at": <unix s>, ...}``.
Families: ``chat.*``; ``media.*`` for call-control hints (the sender paused video on
the audio-only rung), the receiver's once-a-second link feedback (with how long its media
loop stalled, in a second when it did) and, when the channel
opens, the repairs it can make (``media.repair``: video parity and its version); ``coview.*`` and
``annotation.*`` for co-viewing a DICOM series during a call (docs/coview.md): share
start/stop with the series' and patient's identity, the presenter's view state, hand-over,
laser pointer, a small preview image, annotations with author and colour, and a full-state
resync after a reconnection. Every co-viewing message carries the sender's ``seq`` (per
sender, increasing) so a receiver can drop stale view states. A message of another version
or of an unknown type is refused by ``parse_message`` with a ``DataChannelError`` (the
receiver logs it and goes on), so old clients never misread new messages. Data-channel messages
must stay below 64 KiB (aiortc's limit), enforced by ``MAX_MESSAGE_BYTES``.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

DATACHANNEL_VERSION = 1
DATACHANNEL_LABEL = "yiqiao"
MAX_MESSAGE_BYTES = 60_000  # below aiortc's 64 KiB SCTP message limit, with room for JSON


class _Envelope(BaseModel):
    model_config = ConfigDict(extra="forbid")
    v: Literal[1] = 1
    id: str = Field(default_factory=lambda: uuid.uuid4().hex, max_length=64)
    sent_at: float = Field(default_factory=time.time)


class ChatMessage(_Envelope):
    """A line of text typed by a participant."""

    type: Literal["chat.message"] = "chat.message"
    author: str = Field(max_length=128)
    text: str = Field(min_length=1, max_length=4000)


PauseReason = Literal["camera_off", "low_bandwidth", "audio_only"]


class VideoPaused(_Envelope):
    """The sender stopped video (camera off, audio-only rung or user switch) and why."""

    type: Literal["media.video_paused"] = "media.video_paused"
    reason: PauseReason


class VideoResumed(_Envelope):
    type: Literal["media.video_resumed"] = "media.video_resumed"


class MediaFeedback(_Envelope):
    """Once a second from each receiver: what it got of the link (``app.media.arrival``)."""

    type: Literal["media.feedback"] = "media.feedback"
    recv_bps: int = Field(ge=0, le=100_000_000)
    queue_ms: float | None = Field(default=None, ge=0, le=600_000)


class MediaLoopStall(_Envelope):
    """Beside ``media.feedback``, in a second when the sender's media loop stalled (a CPU
    starved by other processes, ``app.media.loop_lag``): for that long, what it sent left
    late and what it read waited for it, so the far end's ladder does not take it for a
    queue. A message of its own, not a feedback field: ``_Envelope`` forbids unknown
    fields, so an older peer would refuse the whole feedback; it ignores an unknown type."""

    type: Literal["media.loop_stall"] = "media.loop_stall"
    stalled_ms: float = Field(ge=0, le=600_000)


class MediaRepair(_Envelope):
    """Sent when the channel opens: the repairs this receiver can make. ``video_parity``:
    it rebuilds lost video packets from our parity packets (``app.media.video_parity``), so
    the far end may send them (a peer that never says so never gets any).
    ``parity_version``: which parity it decodes, each including the ones below: 1 the XOR
    parity P, 2 also the second parity Q (any two losses of a group). Absent means 1 (what
    the first clients sent). ``encode_message`` leaves a 1 off the wire, because those
    clients forbid unknown fields: a sender of 2 sends the 1-form first
    (``CallMessaging.on_open``), which they accept, then the full one, which they log and
    ignore."""

    type: Literal["media.repair"] = "media.repair"
    video_parity: bool = False
    parity_version: int = Field(default=1, ge=1, le=255)


_Uid = Annotated[str, Field(max_length=64)]
_Name = Annotated[str, Field(max_length=128)]
_Colour = Annotated[str, Field(pattern=r"^#[0-9a-fA-F]{6}$")]


class _Coview(_Envelope):
    # ``seq`` orders and deduplicates co-viewing messages, so they carry no random id; with
    # defaults (id, sent_at, unchanged view fields) left out on the wire by
    # ``encode_message``, a view update is ~280 bytes.
    id: str = Field(default="", max_length=64)
    share_id: str = Field(max_length=64)
    seq: int = Field(ge=0)
    sender: _Name


class SharedSeries(BaseModel):
    """What is shared: the series and whose images they are (checked by the receiver)."""

    model_config = ConfigDict(extra="forbid")
    consultation_id: str = Field(max_length=64)
    study_uid: _Uid
    series_uid: _Uid
    patient_id: str = Field(max_length=64)
    patient_name: str = Field(max_length=200)
    description: str = Field(default="", max_length=200)
    instances: int = Field(default=0, ge=0, le=100_000)


class CoviewView(BaseModel):
    """The presenter's view: which image, W/L, zoom/pan, rotation/flip, layout."""

    model_config = ConfigDict(extra="forbid")
    series_uid: _Uid
    sop_instance_uid: _Uid = ""
    frame_index: int = Field(default=0, ge=0, le=100_000)
    window_center: float | None = None
    window_width: float | None = Field(default=None, gt=0)
    zoom: float | None = Field(default=None, gt=0, le=1000)
    center: tuple[float, float] | None = None
    rotation: Literal[0, 90, 180, 270] = 0
    flip_h: bool = False
    invert: bool = False
    layout: tuple[int, int] = (1, 1)


class CoviewAnnotation(BaseModel):
    """One mark in image pixel coordinates (app.dicom_viewer.annotations.Annotation)."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(max_length=64)
    kind: Literal["length", "angle", "ellipse", "rectangle", "freehand", "arrow", "text"]
    points: list[tuple[float, float]] = Field(max_length=2000)
    author: _Name
    colour: _Colour
    sop_instance_uid: _Uid
    frame: int = Field(default=0, ge=0)
    text: str = Field(default="", max_length=1000)


class ShareStart(_Coview):
    type: Literal["coview.share_start"] = "coview.share_start"
    series: SharedSeries
    presenter: _Name
    epoch: int = Field(ge=0)
    colour: _Colour  # the sender's annotation colour


class ShareStop(_Coview):
    type: Literal["coview.share_stop"] = "coview.share_stop"


class ViewUpdate(_Coview):
    type: Literal["coview.view"] = "coview.view"
    view: CoviewView


class PresenterChange(_Coview):
    """``presenter`` is now presenting (sent by the one giving the role away, or a request
    with ``request=True`` from the one who wants it)."""

    type: Literal["coview.presenter"] = "coview.presenter"
    presenter: _Name
    epoch: int = Field(ge=0)  # hand-overs so far; the higher epoch wins after an outage
    request: bool = False


class Pointer(_Coview):
    """The presenter's laser dot in image pixel coordinates; ``None`` hides it. An empty
    ``sop_instance_uid`` means the image of the presenter's last view."""

    type: Literal["coview.pointer"] = "coview.pointer"
    sop_instance_uid: _Uid = ""
    x: float | None = None
    y: float | None = None


class HaveSeries(_Coview):
    """The receiver's answer to a share: whether it holds the series (else it wants previews
    while the series is fetched with top priority)."""

    type: Literal["coview.have"] = "coview.have"
    series_uid: _Uid
    have: bool


class Preview(_Coview):
    """A small image (JPEG/PNG, base64) of the current view for a side that lacks the series."""

    type: Literal["coview.preview"] = "coview.preview"
    sop_instance_uid: _Uid
    mime: Literal["image/jpeg", "image/png"]
    data_b64: str = Field(max_length=48_000)


class AnnotationAdd(_Coview):
    type: Literal["annotation.add"] = "annotation.add"
    annotation: CoviewAnnotation


class AnnotationUpdate(_Coview):
    type: Literal["annotation.update"] = "annotation.update"
    annotation: CoviewAnnotation


class AnnotationDelete(_Coview):
    type: Literal["annotation.delete"] = "annotation.delete"
    annotation_id: str = Field(max_length=64)


class CoviewState(_Coview):
    """Everything, re-sent after a (re)connection so both sides agree again."""

    type: Literal["coview.state"] = "coview.state"
    series: SharedSeries | None
    presenter: _Name
    epoch: int = Field(ge=0)
    colours: dict[str, _Colour] = Field(default_factory=dict, max_length=16)
    view: CoviewView | None = None
    annotations: list[CoviewAnnotation] = Field(default_factory=list, max_length=500)


CoviewMessage = (
    ShareStart
    | ShareStop
    | ViewUpdate
    | PresenterChange
    | Pointer
    | HaveSeries
    | Preview
    | AnnotationAdd
    | AnnotationUpdate
    | AnnotationDelete
    | CoviewState
)
COVIEW_TYPES = tuple(t.model_fields["type"].default for t in CoviewMessage.__args__)

DataMessage = Annotated[
    ChatMessage
    | VideoPaused
    | VideoResumed
    | MediaFeedback
    | MediaLoopStall
    | MediaRepair
    | ShareStart
    | ShareStop
    | ViewUpdate
    | PresenterChange
    | Pointer
    | HaveSeries
    | Preview
    | AnnotationAdd
    | AnnotationUpdate
    | AnnotationDelete
    | CoviewState,
    Field(discriminator="type"),
]
_adapter: TypeAdapter[DataMessage] = TypeAdapter(DataMessage)


class DataChannelError(ValueError):
    """A data-channel message that cannot be understood (names the problem)."""


def encode_message(message: BaseModel) -> str:
    """JSON text for the channel; refuses messages too large for the data channel."""
    if isinstance(message, _Coview):
        # Defaults (and the empty id) stay off the wire; ``v`` and ``type`` always travel.
        data = message.model_dump(mode="json", exclude_defaults=True, exclude={"id", "sent_at"})
        text = json.dumps(
            {"v": message.v, "type": message.type, **data},  # type: ignore[attr-defined]
            ensure_ascii=False,
            separators=(",", ":"),
        )
    elif isinstance(message, MediaRepair) and message.parity_version == 1:
        text = message.model_dump_json(exclude={"parity_version"})  # as the first clients' own
    else:
        text = message.model_dump_json()
    if len(text.encode("utf-8")) > MAX_MESSAGE_BYTES:
        raise DataChannelError(f"message is larger than {MAX_MESSAGE_BYTES} bytes")
    return text


def parse_message(raw: str | bytes) -> BaseModel:
    """Parse one message from the channel."""
    if len(raw) > MAX_MESSAGE_BYTES * 4:
        raise DataChannelError("message too large")
    try:
        head = json.loads(raw)
    except ValueError:
        raise DataChannelError("data-channel message is not JSON") from None
    if isinstance(head, dict) and head.get("v") != DATACHANNEL_VERSION:
        raise DataChannelError(
            f"data-channel message of version {head.get('v')!r} ({head.get('type')!r}); "
            f"this client speaks version {DATACHANNEL_VERSION}"
        )
    try:
        return _adapter.validate_python(head)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "message"
        raise DataChannelError(f"invalid data-channel message at {where}: {first['msg']}") from None
