"""``python -m trellis.goals`` serves the goals service."""

from trellis.cli import serve

serve("goals")
