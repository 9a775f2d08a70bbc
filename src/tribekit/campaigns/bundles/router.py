"""The HTTP routes of bundles."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
