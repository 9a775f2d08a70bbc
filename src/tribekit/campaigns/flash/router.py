"""The HTTP routes of flash."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
