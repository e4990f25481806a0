"""What the goals service does when other things happen: it appends events of its own
(``Reaction``s, never rebuilt)."""
