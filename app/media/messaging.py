"""The call's data channel: chat (kept, re-sent after a reconnection, deduplicated) and the
``media.*`` messages the two ends exchange (video paused/resumed, link feedback).

Qt-free and aiortc-free: it sends through whatever channel the current peer connection has
(``attach``) and reports what arrives through callbacks; ``MediaSession`` wires it up.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from app.media.arrival import LinkFeedback
from app.protocol.datachannel import (
    COVIEW_TYPES,
    ChatMessage,
    DataChannelError,
    MediaFeedback,
    MediaLoopStall,
    MediaRepair,
    PauseReason,
    VideoPaused,
    VideoResumed,
    encode_message,
    parse_message,
)

log = logging.getLogger(__name__)


class CallMessaging:
    """Chat log and data-channel messages of one call (media loop only)."""

    def __init__(
        self,
        author: str,
        on_chat: Callable[[ChatMessage], None],
        on_remote_video: Callable[[str | None], None],
    ) -> None:
        self.author = author
        self.on_chat = on_chat
        self.on_remote_video = on_remote_video  # reason the far end paused video, or None
        self.chat_log: deque[ChatMessage] = deque(maxlen=500)
        self._unsent_chat: deque[ChatMessage] = deque(maxlen=50)
        self.channel: Any = None
        self.remote_video_paused: str | None = None
        self.far_feedback: tuple[float, LinkFeedback] | None = None  # (received at, what)
        self.feedback_sent = 0  # link feedback messages that went out (diagnostics, tests)
        self.far_stall: tuple[float, float] | None = None  # (received at, ms the far loop stalled)
        self.repairs_offered: MediaRepair | None = None  # what we tell the far end we repair
        self.on_far_repair: Callable[[MediaRepair], None] | None = None
        # Co-viewing (app.dicom_viewer.coview) listens here: its messages, and each time the
        # channel (re)opens so it can re-send its whole state.
        self.on_coview: Callable[[Any], None] | None = None
        self.on_reopen: Callable[[], None] | None = None

    def attach(self, channel: Any) -> None:
        """Use ``channel`` (the new peer connection's) from now on."""
        self.channel = channel

    def on_open(self, channel: Any) -> None:
        """The channel opened: send the chat typed while there was none."""
        offer = self.repairs_offered
        if offer is not None and channel.readyState == "open":
            if offer.parity_version > 1:
                # A first-version client refuses the whole message for the unknown field
                # (and would send us no parity at all): it reads this one, newer ones both.
                first = offer.model_copy(update={"parity_version": 1})
                channel.send(encode_message(first))
            channel.send(encode_message(offer))
        while self._unsent_chat and channel.readyState == "open":
            channel.send(encode_message(self._unsent_chat.popleft()))
        if self.on_reopen is not None:
            self.on_reopen()

    def send_chat(self, text: str) -> ChatMessage:
        """Send a chat line (kept and re-sent after a reconnection if the channel is down)."""
        message = ChatMessage(author=self.author, text=text)
        self.chat_log.append(message)
        if not self.send(message):
            self._unsent_chat.append(message)
        return message

    def send(self, message: Any) -> bool:
        """Send now if the channel is open; False otherwise."""
        channel = self.channel
        if channel is None or channel.readyState != "open":
            return False
        channel.send(encode_message(message))
        return True

    def send_feedback(self, recv_bps: int, queue_ms: float | None, stall_ms: float = 0.0) -> None:
        if self.send(MediaFeedback(recv_bps=recv_bps, queue_ms=queue_ms)):
            self.feedback_sent += 1
            if stall_ms > 0:
                self.send(MediaLoopStall(stalled_ms=stall_ms))

    def announce_video(self, paused: bool, reason: PauseReason) -> None:
        """Tell the far end why our video stopped, or that it is back."""
        self.send(VideoPaused(reason=reason) if paused else VideoResumed())

    def fresh_feedback(self, now: float, max_age_s: float = 3.0) -> LinkFeedback | None:
        """The far end's last link feedback if it is recent."""
        if self.far_feedback is not None and now - self.far_feedback[0] < max_age_s:
            at, feedback = self.far_feedback
            stall = self.far_stall
            if stall is not None and abs(stall[0] - at) < 0.5:  # sent with that feedback
                feedback = LinkFeedback(feedback.recv_bps, feedback.queue_ms, stall[1])
            return feedback
        return None

    def on_data(self, raw: str | bytes) -> None:
        """One message from the far end."""
        try:
            message = parse_message(raw)
        except DataChannelError as exc:
            log.warning("ignored data-channel message: %s", exc)
            return
        if getattr(message, "type", "") in COVIEW_TYPES:
            if self.on_coview is not None:
                try:
                    self.on_coview(message)
                except Exception:  # a co-viewing bug must not take the call down
                    log.exception("co-viewing message %s failed", getattr(message, "type", ""))
            return
        if isinstance(message, ChatMessage):
            if any(m.id == message.id for m in self.chat_log):
                return  # re-sent after a reconnection
            self.chat_log.append(message)
            self.on_chat(message)
        elif isinstance(message, VideoPaused):
            self.remote_video_paused = message.reason
            self.on_remote_video(message.reason)
        elif isinstance(message, VideoResumed):
            self.remote_video_paused = None
            self.on_remote_video(None)
        elif isinstance(message, MediaRepair):
            if self.on_far_repair is not None:
                self.on_far_repair(message)
        elif isinstance(message, MediaLoopStall):
            self.far_stall = (time.monotonic(), message.stalled_ms)
        elif isinstance(message, MediaFeedback):
            self.far_feedback = (
                time.monotonic(),
                LinkFeedback(recv_bps=message.recv_bps, queue_ms=message.queue_ms),
            )
