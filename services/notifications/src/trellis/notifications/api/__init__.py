"""The notifications service's HTTP API: the inbox and preferences, and webhook administration."""
