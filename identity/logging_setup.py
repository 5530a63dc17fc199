"""Structured JSON logs. Log identifiers and outcomes only: never names, dates, ids of members."""

from __future__ import annotations

import contextlib
import copy
import logging
import sys
from typing import Any

import structlog


class _CurrentStderr:
    """Writes to whatever sys.stderr is at the moment of writing (test capture swaps it). A
    stream that is closed or broken (EBADF, EPIPE) loses the line, never the request that logged
    it: a request whose access-log line could not be written was answered 500."""

    def write(self, text: str) -> int:
        try:
            return sys.stderr.write(text)
        except (OSError, ValueError):  # ValueError: "I/O operation on closed file"
            return 0

    def flush(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.flush()


class ExceptionTypeOnly(logging.Filter):
    """Keeps a record's message and its exception's type, drops the traceback: an exception's
    text and its frames can carry what a caller submitted (`int('³')` quotes its argument)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[0] is not None:
            record.msg = f"{str(record.msg).strip()} ({record.exc_info[0].__name__})"
        record.exc_info = None
        record.exc_text = None
        record.stack_info = None
        return True


# The loggers that print tracebacks of their own: uvicorn's error logger ("Exception in ASGI
# application", invalid requests), and asyncio's for a task that failed unobserved.
TRACEBACK_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.asgi", "asyncio")


def hide_tracebacks() -> None:
    """Install ExceptionTypeOnly on the loggers that log tracebacks (idempotent)."""
    for name in TRACEBACK_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, ExceptionTypeOnly) for f in logger.filters):
            logger.addFilter(ExceptionTypeOnly())


def uvicorn_log_config() -> dict[str, Any]:
    """uvicorn's own logging configuration with ExceptionTypeOnly on its handlers, for `identity
    serve`: in force from the first line uvicorn logs, before the app's lifespan has run."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {"exception_type_only": {"()": ExceptionTypeOnly}}
    for handler in config["handlers"].values():
        handler["filters"] = ["exception_type_only"]
    return config


def configure_logging(level: str = "INFO", json: bool = True) -> None:
    hide_tracebacks()
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(_CurrentStderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)  # type: ignore[no-any-return]
