"""``python -m trellis.notifications`` serves the notifications service."""

from trellis.cli import serve

serve("notifications")
