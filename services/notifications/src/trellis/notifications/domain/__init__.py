"""The notifications service's domain: notifications, preferences, webhook subscriptions. No I/O."""
