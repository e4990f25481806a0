"""The feedback service's command handlers: load the aggregate, check who may, decide, append."""
