"""The feedback service's domain: aggregates and rules, no I/O.

``checkin_schedule`` and ``checkin`` (1:1s and when they fall, ``recurrence``),
``feedback`` (feedback and requests; ``visibility`` says who reads what, ``anonymity``
how anonymous feedback is limited without naming its giver), ``recognition`` and
``review_cycle``.
"""
