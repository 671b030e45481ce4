"""Why a use case refused a request. The API maps them to HTTP statuses; nothing else needs to know HTTP.

``NotFound``      404: no such resource for this team (another team's ids are indistinguishable from unknown ones).
``InvalidField``  422: a request field is wrong; ``field`` names it and ``message`` says what is wrong.
``InvalidItems``  422: items of a batch request are wrong; each problem names its item (index) and field.
``Conflict``      409: the request is well-formed but the resource's state forbids it (e.g. cancelling a
                  published distribution).
``Unavailable``   503: a service the request needs (the media service) cannot answer now; try again later.
"""

from __future__ import annotations


class SchedulerError(Exception):
    """Base class of the use-case errors."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(SchedulerError):
    pass


class InvalidField(SchedulerError):
    def __init__(self, field: str, message: str, *, location: str = "body") -> None:
        super().__init__(message)
        self.field = field
        self.location = location


class Conflict(SchedulerError):
    pass


class Unavailable(SchedulerError):
    def __init__(self, message: str, *, retry_after_seconds: int = 5) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class InvalidItems(SchedulerError):
    """Items of a batch request are wrong: ``problems`` holds ``(index of the item, what is wrong with it)``, in
    item order, at most one per item (the first check it fails)."""

    def __init__(self, problems: list[tuple[int, InvalidField]]) -> None:
        super().__init__(f"{len(problems)} invalid item(s)")
        self.problems = problems
