"""Command handlers of the onboarding service: load, check who may, decide, append.

Each command runs in one transaction: the aggregates it needs are loaded from the
event store, the actor's permission checked, the domain decides, and the new events
are appended with the loaded versions as expected versions, together with whatever
else must change atomically with them (an e-mail reservation, a deadline).
"""

from __future__ import annotations
