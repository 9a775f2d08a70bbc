"""The demo merchant, so that a fresh install shows a living system."""
