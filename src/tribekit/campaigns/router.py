"""The HTTP routes of every part of campaigns, mounted together."""

from __future__ import annotations

from fastapi import APIRouter

from .bundles.router import router as bundles_router
from .coupons.router import router as coupons_router
from .flash.router import router as flash_router
from .group_buys.router import router as group_buys_router
from .schedules.router import router as schedules_router

router = APIRouter()
for part in (coupons_router, bundles_router, flash_router, group_buys_router, schedules_router):
    router.include_router(part)
