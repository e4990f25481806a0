"""What the notifications service projects: who is affected (reactions) and the inbox (a read view)."""
