"""The notifications service's read views: the inbox."""
