"""The event store: events and their envelope, aggregates and repositories, the tables, the
subject scheme, the database engine and migrations. Nothing here talks to NATS.
"""
