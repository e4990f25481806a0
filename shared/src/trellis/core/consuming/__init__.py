"""Following streams exactly once: projections and reactions, the consumer runner (fetch and
ack), the exactly-once batch and the consumer's ledger (the one writer of its processing
state), partition leases, deadlines ("when this time passes") and the clock they run on,
undecodable events, and the hand-over from a rebuilt view to the live one.
"""
