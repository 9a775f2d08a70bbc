"""The built-in web community (channel ``web``) and the members' campaign pages: server-rendered
pages, HTMX, live updates by server-sent events. ``install`` mounts their routes and static
files on the app."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from .campaigns import router as campaign_pages
from .router import STATIC_DIR, WebConfig, router
from .service import PostHook

__all__ = ["PostHook", "WebConfig", "install"]


def install(app: FastAPI, *, on_post: PostHook | None = None) -> WebConfig:
    """Mount the group pages under ``/c``, the campaign pages under ``/m`` and their files
    under ``/web-static``. ``on_post`` is
    where the robot's pipeline receives each member's post (``service.PostHook``)."""
    config = WebConfig(on_post=on_post)
    app.state.web = config
    app.include_router(router)
    app.include_router(campaign_pages)
    app.mount("/web-static", StaticFiles(directory=STATIC_DIR), name="web-static")
    return config
