"""The goals service's read side: projections that build read views, and queries over them."""
