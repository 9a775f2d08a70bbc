"""Scheduled posts: the rule in words (``rules``), the schedules staff make (``service``), the
worker that makes their occurrences as broadcasts (``tasks``), and the calendar (``calendar``).
Operators' guide: ``docs/schedules.md``."""
