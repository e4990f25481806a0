"""The onboarding domain: employees and teams (the org), templates and plans (onboarding).

Pure: no I/O and no framework. Aggregates decide by recording events; the application
layer loads them, asks them, and saves what they recorded.
"""
