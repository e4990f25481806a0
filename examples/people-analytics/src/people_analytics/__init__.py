"""People analytics: goal progress per team, kept from Trellis's goals events."""
