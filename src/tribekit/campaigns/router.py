"""The HTTP routes of every part of campaigns, mounted together."""

from __future__ import annotations

from fastapi import APIRouter

from .coupons.router import router as coupons_router

router = APIRouter()
router.include_router(coupons_router)
