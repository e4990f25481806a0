"""The feedback service's read views: projections from its stream, and the queries over them."""
