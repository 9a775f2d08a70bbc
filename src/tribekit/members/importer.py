"""Member CSV import: map columns, validate every row, insert in batches.

Each row is validated completely before anything is written, and a row's member, identities, tags
and timeline entry are inserted in the same transaction: a row is imported whole or not at all.
"""

from __future__ import annotations

import csv
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, Literal, cast
from zoneinfo import ZoneInfo

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import Table, insert
from sqlalchemy.exc import IntegrityError

from tribekit.kit import clock
from tribekit.kit.db import Database
from tribekit.kit.errors import ValidationFailed
from tribekit.kit.ids import new_id
from tribekit.models.enums import Channel, MemberSource
from tribekit.models.members import Member, MemberEvent, MemberIdentity, MemberTag
from tribekit.tenancy.principal import Tenant

from .phones import InvalidPhone, normalise_phone
from .repository import Members
from .schemas import normalise_tag

FIELDS = (
    "display_name",
    "phone",
    "email",
    "birthday",
    "tags",
    "source",
    "source_ref",
    "marketing_consent",
    "joined_at",
    "blocked",
    "notes",
)
IDENTITY_PREFIX = "identity:"  # e.g. "identity:telegram" for a column of Telegram user ids
TRUE = {"1", "true", "yes", "y", "on"}
FALSE = {"0", "false", "no", "n", "off", ""}
OnDuplicate = Literal["skip", "error"]
PROGRESS_EVERY = 500  # rows between progress updates
IDENTITY_MAX_LENGTH = 255


@dataclass(frozen=True)
class RowProblem:
    row: int  # line number in the file; the header is line 1
    field: str  # the CSV column (or the member field, when no column maps to it)
    problem: str


@dataclass
class ImportReport:
    rows: int = 0
    imported: int = 0
    skipped: int = 0
    problems: list[RowProblem] = field(default_factory=list)

    @property
    def failed_rows(self) -> int:
        return len({p.row for p in self.problems})


class MappingError(ValueError):
    pass


def build_mapping(header: list[str], overrides: dict[str, str]) -> dict[str, str]:
    """CSV column -> member field. Columns named like a field map to it; ``overrides`` (from
    ``--map "Column=field"``) add or change entries; other columns are ignored."""
    valid = set(FIELDS) | {IDENTITY_PREFIX + c.value for c in Channel}
    known = {f.lower(): f for f in valid}  # "identity:telegram" too: an export imports as is
    mapping = {col: known[col.strip().lower()] for col in header if col.strip().lower() in known}
    for column, target in overrides.items():
        if column not in header:
            raise MappingError(f"--map names column {column!r}, which the file does not have")
        if target not in valid:
            raise MappingError(f"--map target {target!r} is not one of: {', '.join(sorted(valid))}")
        mapping[column] = target
    targets = list(mapping.values())
    if "display_name" not in targets and "phone" not in targets:
        raise MappingError("map a column to display_name or phone: a member needs one of them")
    duplicates = {t for t in targets if targets.count(t) > 1}
    if duplicates:
        raise MappingError(f"several columns map to {', '.join(sorted(duplicates))}")
    return mapping


def _bool(value: str, name: str) -> bool:
    lowered = value.strip().lower()
    if lowered in TRUE:
        return True
    if lowered in FALSE:
        return False
    raise ValueError(f"{name}: {value!r} is not yes/no")


@dataclass
class _Row:
    line: int
    values: dict[str, Any]
    tags: list[str]
    identities: list[tuple[str, str]]


class _Validator:
    def __init__(self, tenant: Tenant, mapping: dict[str, str]) -> None:
        self.tenant = tenant
        self.mapping = mapping
        self.columns = {target: column for column, target in mapping.items()}
        self.zone = ZoneInfo(tenant.timezone)
        self.now = clock.now()

    def _datetime(self, text: str) -> datetime:
        parsed = datetime.fromisoformat(text) if "T" in text or " " in text else None
        if parsed is None:
            parsed = datetime.combine(date.fromisoformat(text), time())
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=self.zone)

    def row(self, line: int, raw: dict[str, str]) -> tuple[_Row | None, list[RowProblem]]:
        problems: list[RowProblem] = []
        values: dict[str, Any] = {"source": MemberSource.IMPORT.value, "marketing_consent": False}
        tags: list[str] = []
        identities: list[tuple[str, str]] = []
        for column, target in self.mapping.items():
            text = (raw.get(column) or "").strip()
            try:
                if target.startswith(IDENTITY_PREFIX):
                    if len(text) > IDENTITY_MAX_LENGTH:
                        raise ValueError(f"longer than {IDENTITY_MAX_LENGTH} characters")
                    if text:
                        identities.append((target.removeprefix(IDENTITY_PREFIX), text))
                elif target == "tags":
                    parts = text.replace("|", ";").split(";")
                    tags = list(dict.fromkeys(normalise_tag(t) for t in parts if t.strip()))
                elif not text:
                    continue
                elif target == "phone":
                    values["phone"] = normalise_phone(text, self.tenant.country)
                elif target == "email":
                    values["email"] = validate_email(
                        text, check_deliverability=False
                    ).normalized.lower()
                elif target == "birthday":
                    values["birthday"] = date.fromisoformat(text)
                elif target == "joined_at":
                    values["joined_at"] = self._datetime(text)
                elif target in ("marketing_consent", "blocked"):
                    values[target] = _bool(text, target)
                elif target == "source":
                    values["source"] = MemberSource(text.lower()).value
                else:
                    limit = 5000 if target == "notes" else 200 if target == "display_name" else 100
                    if len(text) > limit:
                        raise ValueError(f"longer than {limit} characters")
                    values[target] = text
            except (InvalidPhone, EmailNotValidError, ValueError) as exc:
                problems.append(RowProblem(line, column, str(exc)))
        if "display_name" not in values and not problems:
            if "phone" not in values:
                column = self.columns.get("display_name", "display_name")
                problems.append(RowProblem(line, column, "a member needs a name or a phone"))
            else:
                values["display_name"] = values["phone"]
        if problems:
            return None, problems
        if values.get("marketing_consent"):
            values["consent_at"] = self.now
            values["consent_source"] = "import"
        values.setdefault("joined_at", self.now)
        return _Row(line, values, tags, identities), []


def _read(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        for record in reader:
            yield reader.line_num, record


class CsvEncodingError(ValidationFailed):
    """The file is not UTF-8: nothing of it is imported (the same answer as the catalog's)."""

    code = "csv_encoding"
    title = "The CSV file is not UTF-8"


class CsvFileError(ValidationFailed):
    code = "csv_invalid"
    title = "The CSV file cannot be read"


def read_header(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        try:
            return next(csv.reader(handle), [])
        except UnicodeDecodeError as exc:
            raise _encoding_error(exc) from exc


def _encoding_error(exc: UnicodeDecodeError) -> CsvEncodingError:
    return CsvEncodingError(
        f"the file is not UTF-8 (byte {exc.object[exc.start : exc.start + 1]!r} at offset "
        f"{exc.start}); save it as 'CSV UTF-8' and try again"
    )


def check_file(path: Path) -> int:
    """Read the whole file once, before anything is written: the number of data rows. A file
    that is not UTF-8 or not CSV raises here."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        try:
            return max(sum(1 for _ in reader) - 1, 0)
        except UnicodeDecodeError as exc:
            raise _encoding_error(exc) from exc
        except csv.Error as exc:
            raise CsvFileError(
                f"line {reader.line_num + 1} cannot be read as CSV ({exc}); check the quoting"
            ) from exc


async def import_members(
    db: Database,
    tenant: Tenant,
    path: Path,
    mapping: dict[str, str],
    *,
    on_duplicate: OnDuplicate = "skip",
    dry_run: bool = False,
    batch_size: int = 2000,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    report = ImportReport()
    validator = _Validator(tenant, mapping)
    async with db.unit_of_work() as session:
        members = Members(session, tenant.id)
        seen_phones = await members.existing_phones()
        seen_identities = await members.existing_identities()
    batch: list[_Row] = []

    def duplicate(row: _Row) -> RowProblem | None:
        phone = row.values.get("phone")
        if phone is not None and phone in seen_phones:
            column = validator.columns["phone"]
            return RowProblem(row.line, column, f"phone {phone} already belongs to a member")
        for channel, external_id in row.identities:
            if (channel, external_id) in seen_identities:
                column = validator.columns[IDENTITY_PREFIX + channel]
                why = f"{channel} identity {external_id} already belongs to a member"
                return RowProblem(row.line, column, why)
        return None

    for line, raw in _read(path):
        report.rows += 1
        row, problems = validator.row(line, raw)
        if row is not None and (clash := duplicate(row)):
            if on_duplicate == "skip":
                report.skipped += 1
            else:
                problems.append(clash)
            row = None
        report.problems.extend(problems)
        if row is not None:
            if row.values.get("phone"):
                seen_phones.add(row.values["phone"])
            seen_identities.update(row.identities)
            batch.append(row)
        if len(batch) >= batch_size:
            report.imported += await _insert(db, tenant, batch, dry_run, report, validator.columns)
            batch = []
        if progress is not None and report.rows % PROGRESS_EVERY == 0:
            progress(PROGRESS_EVERY)
    if batch:
        report.imported += await _insert(db, tenant, batch, dry_run, report, validator.columns)
    if progress is not None:
        progress(report.rows % PROGRESS_EVERY)
    return report


async def _insert(
    db: Database,
    tenant: Tenant,
    rows: list[_Row],
    dry_run: bool,
    report: ImportReport,
    columns: dict[str, str],
) -> int:
    if dry_run:
        return len(rows)
    try:
        await _insert_rows(db, tenant, rows)
        return len(rows)
    except IntegrityError:
        # Someone created a clashing member while we imported: find the rows, one at a time.
        imported = 0
        for row in rows:
            try:
                await _insert_rows(db, tenant, [row])
                imported += 1
            except IntegrityError:
                column = columns.get("phone", "phone")
                why = "a member with this phone or identity was created during the import"
                report.problems.append(RowProblem(row.line, column, why))
        return imported


async def _insert_rows(db: Database, tenant: Tenant, rows: list[_Row]) -> None:
    now = clock.now()
    member_rows: list[dict[str, Any]] = []
    tag_rows: list[dict[str, Any]] = []
    identity_rows: list[dict[str, Any]] = []
    event_rows: list[dict[str, Any]] = []
    for row in rows:
        member_id = new_id()
        member_rows.append(
            {
                "id": member_id,
                "merchant_id": tenant.id,
                "display_name": row.values["display_name"],
                "phone": row.values.get("phone"),
                "email": row.values.get("email"),
                "birthday": row.values.get("birthday"),
                "source": row.values["source"],
                "source_ref": row.values.get("source_ref"),
                "marketing_consent": row.values["marketing_consent"],
                "consent_at": row.values.get("consent_at"),
                "consent_source": row.values.get("consent_source"),
                "joined_at": row.values["joined_at"],
                "blocked": row.values.get("blocked", False),
                "notes": row.values.get("notes"),
                "merged_into_id": None,
                "erased_at": None,
                "created_at": now,
                "updated_at": now,
            }
        )
        tag_rows.extend(
            {"member_id": member_id, "tag": t, "merchant_id": tenant.id} for t in row.tags
        )
        identity_rows.extend(
            {
                "id": new_id(),
                "merchant_id": tenant.id,
                "member_id": member_id,
                "channel": channel,
                "external_id": external_id,
                "username": None,
                "created_at": now,
            }
            for channel, external_id in row.identities
        )
        event_rows.append(
            _event(
                tenant,
                member_id,
                "created",
                now,
                source=row.values["source"],
                source_ref=row.values.get("source_ref"),
            )
        )
        if row.values["marketing_consent"]:
            event_rows.append(
                _event(tenant, member_id, "consent_given", now, consent_source="import")
            )
    # Core inserts of the tables (not the ORM bulk path): one executemany per table and batch.
    async with db.unit_of_work() as session:
        for model, values in (
            (Member, member_rows),
            (MemberTag, tag_rows),
            (MemberIdentity, identity_rows),
            (MemberEvent, event_rows),
        ):
            if values:
                await session.execute(insert(cast(Table, model.__table__)), values)


def _event(
    tenant: Tenant, member_id: uuid.UUID, kind: str, at: datetime, **data: Any
) -> dict[str, Any]:
    """A timeline row, the same shape the API writes (``Members.record``)."""
    return {
        "id": new_id(),
        "merchant_id": tenant.id,
        "member_id": member_id,
        "kind": kind,
        "data": {**data, "via": "csv import"},
        "actor": "import",
        "at": at,
    }
