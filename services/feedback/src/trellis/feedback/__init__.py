"""The Trellis feedback service."""
