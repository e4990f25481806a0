import pytest

pytest_plugins = ["trellis.core.testing"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest tests first, so parallel workers (pytest-xdist) finish at about the same time."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
