"""The signer's domain errors; the HTTP layer turns each into its status and a JSON reason."""

from __future__ import annotations


class SignerError(Exception):
    status = 400
    code = "badRequest"

    def __init__(self, reason: str, code: str | None = None, fields: dict[str, str] | None = None) -> None:
        """`fields`: more of the answer beside "error" and "reason" (a device's `deactivatedReason`)."""
        super().__init__(reason)
        self.reason = reason
        self.fields = fields or {}
        if code:
            self.code = code


class InvalidInput(SignerError):
    status = 400
    code = "invalidParameters"


class Unauthorized(SignerError):
    status = 401
    code = "unauthorized"


class Forbidden(SignerError):
    status = 403
    code = "forbidden"


class NotFound(SignerError):
    status = 404
    code = "notFound"


class Conflict(SignerError):
    status = 409
    code = "conflict"


class Gone(SignerError):
    status = 410
    code = "expired"


class RequestTimeout(SignerError):
    """The client did not send the whole request body in time (`request_body_seconds`)."""

    status = 408
    code = "requestTimeout"


class TooLarge(SignerError):
    status = 413
    code = "tooLarge"


class RateLimited(SignerError):
    status = 429
    code = "rateLimited"

    def __init__(self, reason: str, code: str | None = None, retry_after: float | None = None) -> None:
        super().__init__(reason, code)
        if retry_after is not None:
            self.retry_after = max(1, int(retry_after + 0.999))


class Unavailable(SignerError):
    status = 503
    code = "unavailable"


def attempts_left(count: int) -> str:
    """ "1 attempt left", "3 attempts left": the tail of a refusal that counts down."""
    return f"{count} attempt{'' if count == 1 else 's'} left"
