"""Fixtures shared by the cross-service tests."""

import pytest

from trellis.ops import options

from .ops_system import goals_overrides, ops  # noqa: F401  (fixtures)


@pytest.fixture(autouse=True, scope="session")
def wide_tool_output() -> None:
    """The tool's tables as wide as tests read them: its consoles take their width from
    ``COLUMNS`` when created, and pytest-xdist's workers set it to 80 before that."""
    options.out.width = options.err.width = 220
