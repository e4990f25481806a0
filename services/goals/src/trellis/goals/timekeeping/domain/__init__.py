"""Time tracking's rules: the Timesheet aggregate and what an entry may be (pure, no I/O)."""
