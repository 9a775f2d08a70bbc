"""The HTTP routes of schedules."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
