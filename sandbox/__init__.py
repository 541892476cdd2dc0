"""A local, stateful, spec-driven sandbox for accounts-receivable APIs."""

__version__ = "0.1.0"
