import sys

import pytest
import structlog

pytest_plugins = ["trellis.testing"]


class _Stderr:
    """Whatever ``sys.stderr`` is when a line is written (pytest swaps it)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def pytest_configure(config: pytest.Config) -> None:
    """Log lines go to stderr from the start, as in the services and the tool: a test that
    captures logs (``structlog.testing.capture_logs``) leaves structlog configured, and the
    tool then kept structlog's default (stdout), where a stray line broke its JSON output."""
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=_Stderr()))  # type: ignore[arg-type]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest tests first, so parallel workers (pytest-xdist) finish at about the same time."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
