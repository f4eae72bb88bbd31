"""The one definition of the wire protocol shared by client and hub (versioned).

Modules: ``auth`` (login/token messages), ``sync`` (record documents, push/pull),
``signaling`` (call signaling over the hub WebSocket), ``datachannel`` (chat and
co-viewing messages). Client and hub both import from here; nothing is defined twice.
"""

PROTOCOL_VERSION = 1
