"""The goals domain: the Goal aggregate, its events, progress rules and permissions. No I/O."""
