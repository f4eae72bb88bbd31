"""Call signaling on the hub: the WebSocket (presence, ringing, SDP relay), TURN
credentials, and the test-call echo peer. ``router`` is mounted by ``hub.app.create_app``."""

from hub.signaling.ws import router

__all__ = ["router"]
