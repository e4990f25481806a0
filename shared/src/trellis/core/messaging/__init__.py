"""Getting events onto JetStream: connections and stream provisioning, the outbox relay (and
its parked rows), and the AsyncAPI description of a service's streams.
"""
