"""The README stays a front page, and the documentation points at things that exist.

The README once grew into a lab notebook; the detail lives in ``docs/``. These checks keep
the README short, every relative link (and its ``#anchor``) pointing at a file and heading
that exist, and every ``./dev <command>`` the pages mention runnable.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
README_MAX_LINES = 220

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
DEV_COMMAND = re.compile(r"\./dev ([a-z][a-z0-9-]*)")
DEV_CASE = re.compile(r"^\s*([a-z][a-z0-9-]*)\)\s*$", re.MULTILINE)
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


def _prose(page: Path) -> str:
    """The page without its fenced code blocks, where brackets are not links."""
    return FENCE.sub("", page.read_text())


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    return {_anchor(m.group(1)) for m in re.finditer(r"^#+ (.+)$", _prose(page), re.MULTILINE)}


def _relative_links(page: Path) -> list[str]:
    return [
        target
        for target in LINK.findall(_prose(page))
        if not re.match(r"^[a-z][a-z0-9+.-]*:", target)  # http:, https:, mailto:
    ]


def test_the_readme_is_a_front_page() -> None:
    lines = README.read_text().count("\n")
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines: move detail into docs/"


def test_the_documentation_pages_exist() -> None:
    names = {page.name for page in PAGES}
    assert {"guarantees.md", "operations.md", "deployment.md", "performance.md", "events.md"} <= names


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_relative_link_points_at_something_that_exists(page: Path) -> None:
    broken = []
    for target in _relative_links(page):
        path, _, fragment = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{target}: no such file")
        elif fragment and file.suffix == ".md" and fragment not in _anchors(file):
            broken.append(f"{target}: no heading with that anchor")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)


def test_every_dev_command_mentioned_exists() -> None:
    commands = set(DEV_CASE.findall((ROOT / "dev").read_text())) - {"help"}
    assert {"up", "test"} <= commands  # the parse still finds the script's cases
    missing = {
        f"{page.relative_to(ROOT)}: ./dev {name}"
        for page in PAGES
        for name in DEV_COMMAND.findall(page.read_text())
        if name not in commands
    }
    assert not missing, f"not a command of ./dev: {sorted(missing)}"


def test_the_checks_see_a_broken_link_and_an_unknown_command(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# Title\n\n[ok](page.md#title) [gone](nowhere.md) [bad anchor](page.md#nope)\n"
        "```\n[in code](ignored.md)\n```\n[web](https://example.com)\n"
    )
    assert _relative_links(page) == ["page.md#title", "nowhere.md", "page.md#nope"]
    assert _anchors(page) == {"title"}
    assert _anchor("Operations: the `trellis` tool") == "operations-the-trellis-tool"
    assert DEV_COMMAND.findall("run `./dev bench-rebuild` then ./dev up") == ["bench-rebuild", "up"]
