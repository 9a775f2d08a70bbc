"""Shared building blocks. `kit` imports no domain."""
