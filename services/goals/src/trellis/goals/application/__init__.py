"""Command handlers of the goals service (``commands.py``) and its parts as the routers use
them (``wiring.py``)."""
