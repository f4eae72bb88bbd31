"""Messages on the call's data channel (peer to peer), versioned.

Envelope: ``{"v": 1, "type": "<family>.<name>", "id": "<uuid>", "sent_at": <unix s>, ...}``.
Families: ``chat.*`` now; ``media.*`` for call-control hints (the sender paused video on
the audio-only rung) and the receiver's once-a-second link feedback; ``annotation.*`` is reserved for co-viewing (a specialist's marks
on a DICOM image, sent live) and will be added here as new models in the same union, so old
clients reject them with a clear error instead of misreading them. Data-channel messages
must stay below 64 KiB (aiortc's limit), enforced by ``MAX_MESSAGE_BYTES``.
"""

from __future__ import annotations

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


class VideoPaused(_Envelope):
    """The sender stopped video (camera off, audio-only rung or user switch) and why."""

    type: Literal["media.video_paused"] = "media.video_paused"
    reason: Literal["camera_off", "low_bandwidth", "audio_only"]


class VideoResumed(_Envelope):
    type: Literal["media.video_resumed"] = "media.video_resumed"


class MediaFeedback(_Envelope):
    """Once a second from each receiver: what it got of the link (``app.media.arrival``)."""

    type: Literal["media.feedback"] = "media.feedback"
    recv_bps: int = Field(ge=0, le=100_000_000)
    queue_ms: float | None = Field(default=None, ge=0, le=600_000)


DataMessage = Annotated[
    ChatMessage | VideoPaused | VideoResumed | MediaFeedback, Field(discriminator="type")
]
_adapter: TypeAdapter[DataMessage] = TypeAdapter(DataMessage)


class DataChannelError(ValueError):
    """A data-channel message that cannot be understood (names the problem)."""


def encode_message(message: BaseModel) -> str:
    """JSON text for the channel; refuses messages too large for the data channel."""
    text = message.model_dump_json()
    if len(text.encode("utf-8")) > MAX_MESSAGE_BYTES:
        raise DataChannelError(f"message is larger than {MAX_MESSAGE_BYTES} bytes")
    return text


def parse_message(raw: str | bytes) -> BaseModel:
    """Parse one message from the channel."""
    if len(raw) > MAX_MESSAGE_BYTES * 4:
        raise DataChannelError("message too large")
    try:
        return _adapter.validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "message"
        raise DataChannelError(f"invalid data-channel message at {where}: {first['msg']}") from None
