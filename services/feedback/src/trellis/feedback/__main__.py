"""``python -m trellis.feedback`` serves the feedback service."""

from trellis.core.cli import serve

serve("feedback")
