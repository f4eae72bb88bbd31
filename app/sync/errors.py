"""Why talking to the hub failed, in terms a person (and the status bar) can act on."""

from __future__ import annotations


class HubError(Exception):
    """Base for every hub communication failure.

    ``code`` is the hub's machine-readable reason (``ErrorBody.error``, one of
    ``app.protocol.problems.HUB_ERROR_CODES``) when the hub sent one, else ""; ``status``
    the HTTP status. The message is English for logs; the UI words ``code`` itself.
    """

    state = "server_error"

    def __init__(
        self,
        message: str = "",
        code: str = "",
        status: int | None = None,
        problems: list | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        # The hub's per-field problems (app.protocol.problems.Problem) of a 422, if any.
        self.problems = list(problems or [])


class HubOffline(HubError):
    """No connection: the link is down, the hub is unreachable, or the proxy failed."""

    state = "offline"


class LoginRefused(HubError):
    """The hub refused the credentials or the token (wrong password, disabled, expired)."""

    state = "login_refused"


class TlsUntrusted(HubError):
    """The hub's TLS certificate is not trusted (wrong CA bundle, self-signed, wrong name)."""

    state = "tls_untrusted"


class HubServerError(HubError):
    """The hub answered with a server error (5xx)."""

    state = "server_error"


class HubBadReply(HubError):
    """The hub's reply could not be understood (bad JSON, wrong shape, truncated)."""

    state = "server_error"


class BatchTooLarge(HubError):
    """The hub refused a push batch as too large (413): send fewer changes at once."""

    state = "syncing"
