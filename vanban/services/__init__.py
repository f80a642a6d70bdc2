"""Business rules as plain functions over a SQLAlchemy session."""


class ServiceError(Exception):
    """A rule rejected the request; `message` is shown to the user as is."""

    status_code = 422

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class Forbidden(ServiceError):
    status_code = 403


class Conflict(ServiceError):
    """The document is no longer in a state that allows the action."""

    status_code = 409
