"""Re-exported for the tests: the package's own test-server helpers."""

from sandbox.testing import free_port, running_server

__all__ = ["free_port", "running_server"]
