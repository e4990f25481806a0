"""The Trellis onboarding service."""
