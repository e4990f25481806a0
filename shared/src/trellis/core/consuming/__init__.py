"""Following streams exactly once: projections and reactions, the consumer runner, partition
leases, deadlines ("when this time passes") and the clock they run on, undecodable events, and
the hand-over from a rebuilt view to the live one.
"""
