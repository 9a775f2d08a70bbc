"""Campaign schedules: the weekly rhythm of flash sales, group buys and promotion days."""
