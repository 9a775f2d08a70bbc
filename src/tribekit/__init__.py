"""Tribekit: self-hosted community commerce."""

__version__ = "0.1.0"
