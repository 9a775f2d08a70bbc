"""Alembic environment: always given a live connection by ``tribekit.migrations``."""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext

import tribekit.models
from tribekit.kit.db import UTCDateTime


def _render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    # Migrations must not depend on application types that may change later.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `tribekit db upgrade`, not the alembic command")

context.configure(
    connection=connection,
    target_metadata=tribekit.models.Base.metadata,
    render_as_batch=True,  # SQLite can only ALTER TABLE by copying it
    compare_type=True,
    render_item=_render_item,
    user_module_prefix=None,
)
with context.begin_transaction():
    context.run_migrations()
