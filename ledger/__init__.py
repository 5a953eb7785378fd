"""Consent Ledger: a transparency log for signed content-licence grants."""

__version__ = "0.1.0"
