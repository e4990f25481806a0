"""``python -m trellis.feedback`` serves the feedback service."""

from trellis.cli import serve

serve("feedback")
