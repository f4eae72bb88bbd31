"""User-space link emulator: reproduces rural links on loopback (kernel netem is unavailable).

``LinkProfile`` and ``Shaper`` (``profile.py``) are transport-neutral and shared with the UDP
mode; ``LinkEmulator`` (``tcp.py``) is the TCP proxy. Typical use::

    emu = LinkEmulator("127.0.0.1", hub_port, LinkProfile(latency_ms=150, bandwidth_bps=2e6))
    port = emu.start()          # connect the client to 127.0.0.1:port
    emu.reset_at_up_bytes(10_000)  # cut every open connection when 10 kB have gone up
    emu.stop()
"""

from tests.linkemu.profile import Cut, LinkProfile, Shaper
from tests.linkemu.tcp import LinkEmulator, LinkStats

__all__ = ["Cut", "LinkEmulator", "LinkProfile", "LinkStats", "Shaper"]
