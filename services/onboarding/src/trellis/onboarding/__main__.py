"""``python -m trellis.onboarding`` serves the onboarding service."""

from trellis.core.cli import serve

serve("onboarding")
