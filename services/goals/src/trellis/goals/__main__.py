"""``python -m trellis.goals`` serves the goals service."""

from trellis.core.cli import serve

serve("goals")
