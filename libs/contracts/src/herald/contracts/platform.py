"""The social platforms Herald publishes to."""

from enum import StrEnum


class Platform(StrEnum):
    """A publishing platform. The value is used in routing keys, queue names and URLs."""

    X = "x"
    LINKEDIN = "linkedin"
    META = "meta"
