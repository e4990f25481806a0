pytest_plugins = ["trellis.core.testing"]
