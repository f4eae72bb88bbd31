"""Call signaling over the hub WebSocket (``/api/v1/ws``), shared by hub and client.

Every frame is one JSON object ``{"v": 1, "type": "...", ...}``. ``parse_signal`` turns raw
text into the right model and raises ``SignalingError`` naming the problem for anything else.

Flow of a 1:1 call (``call_id`` is chosen by the caller, a UUID):
caller ``call.invite`` → hub checks that both are participants of the consultation →
callee gets ``call.incoming``, caller gets ``call.ringing`` (or ``call.busy`` /
``call.unavailable``) → callee ``call.accept`` | ``call.decline``; caller may ``call.cancel``
while ringing → both exchange ``call.signal`` (SDP offer/answer, restart requests) relayed by
the hub → either side ``call.hangup``. An unanswered call becomes a missed-call record.

A media path is identified by ``session`` (1, 2, ...): each reconnection negotiates a new
peer connection with a higher session number, so late answers for an old one are ignored.
Besides calls the hub sends ``sync.hint`` when records a user can see changed, so clients
pull at once instead of at their next periodic cycle. A client that opens the socket only for
hints connects with ``?purpose=sync`` (its hello then leaves missed calls for the call socket).

The ``peer`` field names the far end; for a future SFU (Janus) the far end becomes the
SFU and the same messages carry its SDP.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

SIGNALING_VERSION = 1
ECHO_PEER_ID = "echo"  # pseudo-user answering test calls on the hub


class _Msg(BaseModel):
    model_config = ConfigDict(extra="forbid")
    v: Literal[1] = 1


class IceServer(BaseModel):
    """One STUN/TURN server as RTCPeerConnection wants it."""

    urls: list[str]
    username: str | None = None
    credential: str | None = None


class PartyInfo(BaseModel):
    """Who is calling or being called (shown in the incoming-call dialog)."""

    id: str
    display_name: str
    facility_name: str = ""


class MissedCall(BaseModel):
    """A call that rang and was not answered."""

    call_id: str
    consultation_id: str
    caller: PartyInfo
    at: float = Field(description="unix time the call started ringing")


# ---- client → hub ------------------------------------------------------------------------


class Invite(_Msg):
    """Ring the other participant(s) of a consultation; ``callee_id`` picks one of several."""

    type: Literal["call.invite"] = "call.invite"
    call_id: str = Field(min_length=8, max_length=64)
    consultation_id: str = Field(min_length=1, max_length=64)
    callee_id: str | None = Field(default=None, max_length=64)


class TestCallStart(_Msg):
    """Start a test call with the hub's echo peer (checks camera, microphone and link)."""

    type: Literal["call.test"] = "call.test"
    call_id: str = Field(min_length=8, max_length=64)


class Accept(_Msg):
    type: Literal["call.accept"] = "call.accept"
    call_id: str


class Decline(_Msg):
    type: Literal["call.decline"] = "call.decline"
    call_id: str
    reason: str = Field(default="declined", max_length=200)


class Cancel(_Msg):
    type: Literal["call.cancel"] = "call.cancel"
    call_id: str


class Hangup(_Msg):
    type: Literal["call.hangup"] = "call.hangup"
    call_id: str
    reason: str = Field(default="hangup", max_length=200)


SignalKind = Literal["offer", "answer", "restart"]


class Signal(_Msg):
    """SDP relayed to the other party: an offer, its answer, or a request to renegotiate."""

    type: Literal["call.signal"] = "call.signal"
    call_id: str
    session: int = Field(ge=1)
    kind: SignalKind
    sdp: str = Field(default="", max_length=200_000)


class PresenceQuery(_Msg):
    """Ask whether users are online; the hub answers and keeps telling of changes."""

    type: Literal["presence.query"] = "presence.query"
    user_ids: list[str] = Field(max_length=200)


class Ping(_Msg):
    type: Literal["ping"] = "ping"


# ---- hub → client ------------------------------------------------------------------------


class Hello(_Msg):
    """First frame after the WebSocket is accepted."""

    type: Literal["hello"] = "hello"
    user_id: str
    ice_servers: list[IceServer] = Field(default_factory=list)  # STUN only; TURN per call
    missed_calls: list[MissedCall] = Field(default_factory=list)


class Presence(_Msg):
    type: Literal["presence"] = "presence"
    user_id: str
    online: bool


class Incoming(_Msg):
    """A call rings for you; ``ice_servers`` (STUN/TURN, credentials for this call) to use."""

    type: Literal["call.incoming"] = "call.incoming"
    call_id: str
    consultation_id: str
    caller: PartyInfo
    ice_servers: list[IceServer] = Field(default_factory=list)


class Ringing(_Msg):
    type: Literal["call.ringing"] = "call.ringing"
    call_id: str
    callee: PartyInfo


class Accepted(_Msg):
    """Your call was answered; ``ice_servers`` (credentials for this call) to use."""

    type: Literal["call.accepted"] = "call.accepted"
    call_id: str
    by: str
    ice_servers: list[IceServer] = Field(default_factory=list)


class Declined(_Msg):
    type: Literal["call.declined"] = "call.declined"
    call_id: str
    by: str
    reason: str = "declined"


class Busy(_Msg):
    type: Literal["call.busy"] = "call.busy"
    call_id: str


class Unavailable(_Msg):
    """Nobody to ring: the callee is offline (a missed-call record is kept)."""

    type: Literal["call.unavailable"] = "call.unavailable"
    call_id: str


class Cancelled(_Msg):
    type: Literal["call.cancelled"] = "call.cancelled"
    call_id: str


class Ended(_Msg):
    """The call is over for everyone (hang-up, peer gone too long, answered elsewhere)."""

    type: Literal["call.ended"] = "call.ended"
    call_id: str
    by: str = ""
    reason: str = "hangup"


class Missed(_Msg):
    type: Literal["call.missed"] = "call.missed"
    call: MissedCall


class Error(_Msg):
    """A refused request: ``code`` is stable (not_participant, unknown_call, bad_message…)."""

    type: Literal["error"] = "error"
    code: str
    message: str
    call_id: str | None = None


class Pong(_Msg):
    type: Literal["pong"] = "pong"


class SyncHint(_Msg):
    """Records you can see changed on the hub: pull now (carries no data; the periodic pull
    stays the fallback when a hint is lost). ``seq`` is the hub's sequence after the change."""

    type: Literal["sync.hint"] = "sync.hint"
    seq: int = Field(default=0, ge=0)


ClientMessage = Annotated[
    Invite | TestCallStart | Accept | Decline | Cancel | Hangup | Signal | PresenceQuery | Ping,
    Field(discriminator="type"),
]
ServerMessage = Annotated[
    Hello
    | Presence
    | Incoming
    | Ringing
    | Accepted
    | Declined
    | Busy
    | Unavailable
    | Cancelled
    | Ended
    | Missed
    | Signal
    | Error
    | Pong
    | SyncHint,
    Field(discriminator="type"),
]
_client_adapter: TypeAdapter[ClientMessage] = TypeAdapter(ClientMessage)
_server_adapter: TypeAdapter[ServerMessage] = TypeAdapter(ServerMessage)


class SignalingError(ValueError):
    """A frame that is not a valid signaling message; the text says what was wrong."""


def _parse(adapter: TypeAdapter, raw: str | bytes) -> BaseModel:
    try:
        return adapter.validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "message"
        raise SignalingError(f"invalid signaling message at {where}: {first['msg']}") from None


def parse_client_message(raw: str | bytes) -> BaseModel:
    """Parse a frame sent by a client (used by the hub)."""
    return _parse(_client_adapter, raw)


def parse_server_message(raw: str | bytes) -> BaseModel:
    """Parse a frame sent by the hub (used by the client)."""
    return _parse(_server_adapter, raw)
