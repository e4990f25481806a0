"""What the feedback service does when other things happen (``Reaction``s, never rebuilt)."""
