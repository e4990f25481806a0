"""The Trellis notifications service."""
