"""``python -m trellis.onboarding`` serves the onboarding service."""

from trellis.cli import serve

serve("onboarding")
