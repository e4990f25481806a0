"""Time tracking's command handlers, the entry keys that seal what entries are on, and wiring."""
