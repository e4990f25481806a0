"""``python -m trellis.notifications`` serves the notifications service."""

from trellis.core.cli import serve

serve("notifications")
