"""The HTTP routes of group buys."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
