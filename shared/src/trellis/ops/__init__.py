"""The operators' tools: ``trellis status``, ``events``, ``projections``, ``dlq``, ``outbox``, ``replay``.

They work on every installed service (the ``trellis.services`` entry points), against the
embedded run by default and against production with flags or the services' own
environment. See ``docs/operations.md`` at the repository root.
"""
