"""No user data in server logs: database errors carry no bound parameters, and what PostgreSQL quotes of the data
(the failing key, the unparsable value) is redacted before a log line is written."""

from __future__ import annotations

import io
import logging

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from herald.kit import db
from herald.kit.logging import JsonFormatter, RedactingFilter
from herald.kit.settings import ServiceSettings

USER_TEXT = "Dear diary, my launch plans"


def _logged(error: BaseException) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("kit-test"))
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("herald.tests.db_errors")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.error("statement failed", exc_info=(type(error), error, error.__traceback__))
    finally:
        logger.removeHandler(handler)
    return stream.getvalue()


async def test_database_errors_are_logged_without_the_users_data(database_url: str) -> None:
    engine = db.create_engine(ServiceSettings(database_url=database_url), "public", pool_size=1)
    try:
        async with engine.connect() as conn:
            with pytest.raises(DBAPIError) as unparsable:
                await conn.execute(text("SELECT CAST(:value AS uuid)"), {"value": USER_TEXT})
        async with engine.connect() as conn:
            await conn.execute(text("CREATE TEMP TABLE notes (body text UNIQUE)"))
            await conn.execute(text("INSERT INTO notes VALUES (:body)"), {"body": USER_TEXT})
            with pytest.raises(DBAPIError) as duplicate:
                await conn.execute(text("INSERT INTO notes VALUES (:body)"), {"body": USER_TEXT})
    finally:
        await engine.dispose()

    for caught in (unparsable, duplicate):
        assert "parameters hidden" in str(caught.value)  # SQLAlchemy's own rendering: no bound values
        logged = _logged(caught.value)
        assert "statement failed" in logged
        assert USER_TEXT not in logged
        assert "Dear diary" not in logged
