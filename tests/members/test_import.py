"""CSV import of members: mapping, row validation, duplicates, dry runs, merchant time zones."""

from __future__ import annotations

import csv
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.factories import Factory, Shop, count_rows
from tribekit.kit import clock
from tribekit.kit.db import Database
from tribekit.members.importer import (
    ImportReport,
    MappingError,
    RowProblem,
    build_mapping,
    import_members,
    read_header,
)
from tribekit.models import Member, MemberEvent, MemberIdentity, MemberTag
from tribekit.models.enums import Channel

PHONE_PROBLEM = (
    "'{raw}' is not a valid phone number in CN; write it with its country code, "
    "like +86 138 0013 8000"
)
ALL_TARGETS = (
    "birthday, blocked, display_name, email, identity:matrix, identity:telegram, identity:web, "
    "identity:wecom, joined_at, marketing_consent, notes, phone, source, source_ref, tags"
)


def _write(tmp_path: Path, *rows: list[str]) -> Path:
    path = tmp_path / "members.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    return path


def _csv(tmp_path: Path, text: str, name: str = "members.csv") -> Path:
    path = tmp_path / name
    path.write_text(text.lstrip("\n"), encoding="utf-8")
    return path


async def _run(
    db: Database, shop: Shop, path: Path, overrides: dict[str, str], **options: Any
) -> ImportReport:
    mapping = build_mapping(read_header(path), overrides)
    return await import_members(db, shop.tenant, path, mapping, **options)


def _pairs(report: ImportReport) -> list[tuple[int, str]]:
    return [(p.row, p.field) for p in report.problems]


def _totals(report: ImportReport) -> tuple[int, int, int, int]:
    return report.rows, report.imported, report.skipped, report.failed_rows


async def _members(db: Database, shop: Shop) -> dict[str, Member]:
    """The merchant's members by display name."""
    async with db.unit_of_work() as session:
        rows = (
            await session.scalars(select(Member).where(Member.merchant_id == shop.tenant.id))
        ).all()
    return {m.display_name: m for m in rows}


async def _tags(db: Database, member_id: uuid.UUID) -> list[str]:
    async with db.unit_of_work() as session:
        stmt = select(MemberTag.tag).where(MemberTag.member_id == member_id).order_by(MemberTag.tag)
        return list((await session.scalars(stmt)).all())


async def _identities(db: Database, member_id: uuid.UUID) -> list[tuple[str, str]]:
    async with db.unit_of_work() as session:
        rows = await session.execute(
            select(MemberIdentity.channel, MemberIdentity.external_id)
            .where(MemberIdentity.member_id == member_id)
            .order_by(MemberIdentity.channel)
        )
        return [(channel, external_id) for channel, external_id in rows.all()]


async def _events(db: Database, member_id: uuid.UUID) -> list[tuple[str, str | None, Any]]:
    async with db.unit_of_work() as session:
        rows = await session.scalars(select(MemberEvent).where(MemberEvent.member_id == member_id))
        return [(e.kind, e.actor, e.data) for e in rows.all()]


# --------------------------------------------------------------------------------------- mapping


def test_columns_named_like_fields_are_mapped_and_overrides_add_the_rest() -> None:
    header = ["Name", "Mobile", " Email ", "TAGS", "Telegram", "Consent", "Favourite fruit"]
    mapping = build_mapping(
        header,
        {
            "Name": "display_name",
            "Mobile": "phone",
            "Telegram": "identity:telegram",
            "Consent": "marketing_consent",
        },
    )
    assert mapping == {
        " Email ": "email",
        "TAGS": "tags",
        "Name": "display_name",
        "Mobile": "phone",
        "Telegram": "identity:telegram",
        "Consent": "marketing_consent",
    }
    assert build_mapping(["phone"], {}) == {"phone": "phone"}
    assert build_mapping(["Name", "email"], {"email": "notes", "Name": "display_name"}) == {
        "email": "notes",
        "Name": "display_name",
    }


@pytest.mark.parametrize(
    ("header", "overrides", "message"),
    [
        (
            ["Name", "Mobile"],
            {"Phone": "phone", "Name": "display_name"},
            "--map names column 'Phone', which the file does not have",
        ),
        (
            ["Name", "Mobile"],
            {"Name": "nickname"},
            f"--map target 'nickname' is not one of: {ALL_TARGETS}",
        ),
        (
            ["Name", "Mobile"],
            {"Mobile": "identity:whatsapp", "Name": "display_name"},
            f"--map target 'identity:whatsapp' is not one of: {ALL_TARGETS}",
        ),
        (
            ["Name", "Email", "Tags"],
            {},
            "map a column to display_name or phone: a member needs one of them",
        ),
        (
            ["Name", "Full name"],
            {"Name": "display_name", "Full name": "display_name"},
            "several columns map to display_name",
        ),
        (["phone", "Mobile"], {"Mobile": "phone"}, "several columns map to phone"),
    ],
    ids=[
        "unknown-column",
        "unknown-target",
        "unknown-channel",
        "no-name-or-phone",
        "two-names",
        "two-phones",
    ],
)
def test_a_bad_mapping_raises_a_mapping_error(
    header: list[str], overrides: dict[str, str], message: str
) -> None:
    with pytest.raises(MappingError) as caught:
        build_mapping(header, overrides)
    assert str(caught.value) == message


# ------------------------------------------------------------------------------------- good rows


async def test_good_rows_are_imported_with_tags_identities_and_consent(
    db: Database, factory: Factory, tmp_path: Path
) -> None:
    shop = await factory.shop()
    header = "Name,Mobile,Email,Tags,Telegram,Matrix,Consent,Joined,Birthday,Source"
    header += ",Source_ref,Notes,Blocked"
    path = _write(
        tmp_path,
        header.split(","),
        [
            "Lin Wei",
            "138 0013 8000",
            "Lin@Example.COM",
            "VIP; office |vip",
            "731928374",
            "@lin:example.org",
            "yes",
            "2024-03-01 08:00",
            "1990-05-17",
            "store_qr",
            "counter",
            "likes durian, and lychee",
            "no",
        ],
        ["Zhang San", "+86 139-0013-9000", "", "", "", "", "N", "", "", "", "", "", "YES"],
        ["", "13700137000", "", "", "", "", "", "", "", "", "", "", ""],
    )
    now = clock.now().replace(microsecond=0) - timedelta(hours=1)
    with clock.frozen_at(now):
        report = await _run(
            db,
            shop,
            path,
            {
                "Name": "display_name",
                "Mobile": "phone",
                "Telegram": "identity:telegram",
                "Matrix": "identity:matrix",
                "Consent": "marketing_consent",
                "Joined": "joined_at",
            },
        )
    assert _totals(report) == (3, 3, 0, 0)
    assert report.problems == []

    members = await _members(db, shop)
    assert sorted(members) == ["+8613700137000", "Lin Wei", "Zhang San"]
    lin, zhang, nameless = members["Lin Wei"], members["Zhang San"], members["+8613700137000"]
    assert {
        "phone": lin.phone,
        "email": lin.email,
        "birthday": lin.birthday,
        "source": lin.source,
        "source_ref": lin.source_ref,
        "notes": lin.notes,
        "blocked": lin.blocked,
        "marketing_consent": lin.marketing_consent,
        "consent_at": lin.consent_at,
        "consent_source": lin.consent_source,
        "joined_at": lin.joined_at,
        "created_at": lin.created_at,
    } == {
        "phone": "+8613800138000",
        "email": "lin@example.com",
        "birthday": date(1990, 5, 17),
        "source": "store_qr",
        "source_ref": "counter",
        "notes": "likes durian, and lychee",
        "blocked": False,
        "marketing_consent": True,
        "consent_at": now,
        "consent_source": "import",
        "joined_at": datetime(2024, 3, 1, 0, 0, tzinfo=UTC),
        "created_at": now,
    }
    assert await _tags(db, lin.id) == ["office", "vip"]
    assert await _identities(db, lin.id) == [
        (Channel.MATRIX.value, "@lin:example.org"),
        (Channel.TELEGRAM.value, "731928374"),
    ]
    assert await _events(db, lin.id) == [
        ("created", "import", {"source": "store_qr", "source_ref": "counter", "via": "csv import"}),
        ("consent_given", "import", {"consent_source": "import", "via": "csv import"}),
    ]

    assert (zhang.phone, zhang.email, zhang.source, zhang.blocked) == (
        "+8613900139000",
        None,
        "import",
        True,
    )
    assert (zhang.marketing_consent, zhang.consent_at, zhang.consent_source) == (False, None, None)
    assert zhang.joined_at == now
    assert await _tags(db, zhang.id) == []
    assert await _identities(db, zhang.id) == []
    assert nameless.phone == "+8613700137000"
    assert await count_rows(db, MemberEvent) == 4  # three "created", one "consent_given"


# -------------------------------------------------------------------------------------- bad rows


async def test_bad_rows_are_reported_by_row_and_column_and_never_half_imported(
    db: Database, factory: Factory, tmp_path: Path
) -> None:
    shop = await factory.shop()
    path = _csv(
        tmp_path,
        """
Name,Mobile,Email,Birthday,Consent,Tags,Telegram,Source
Good One,13800138000,good@example.com,1990-01-01,yes,a,111,event
Bad Phone,12345,,,,b,222,
Bad Date,13800138001,,1990-02-30,,c,333,
Bad Email,13800138002,not-an-email,,,d,444,
Bad Bool,13800138003,,,maybe,e,555,
Many Bad,999,x@,2020-13-01,perhaps,f,666,flyer
,,,,,g,777,
Good Two,13800138004,,,,h,888,
""",
    )
    report = await _run(
        db,
        shop,
        path,
        {
            "Name": "display_name",
            "Mobile": "phone",
            "Consent": "marketing_consent",
            "Telegram": "identity:telegram",
        },
    )
    assert _totals(report) == (8, 2, 0, 6)
    assert sorted(_pairs(report)) == [
        (3, "Mobile"),
        (4, "Birthday"),
        (5, "Email"),
        (6, "Consent"),
        (7, "Birthday"),
        (7, "Consent"),
        (7, "Email"),
        (7, "Mobile"),
        (7, "Source"),
        (8, "Name"),
    ]
    messages = {(p.row, p.field): p.problem for p in report.problems}
    assert messages[(3, "Mobile")] == PHONE_PROBLEM.format(raw="12345")
    assert messages[(6, "Consent")] == "marketing_consent: 'maybe' is not yes/no"
    assert messages[(7, "Consent")] == "marketing_consent: 'perhaps' is not yes/no"
    assert messages[(7, "Source")] == "'flyer' is not a valid MemberSource"
    assert messages[(8, "Name")] == "a member needs a name or a phone"
    assert report.problems[0] == RowProblem(3, "Mobile", PHONE_PROBLEM.format(raw="12345"))

    members = await _members(db, shop)
    assert sorted(members) == ["Good One", "Good Two"]
    assert await count_rows(db, Member) == 2
    assert await _tags(db, members["Good One"].id) == ["a"]
    assert await _tags(db, members["Good Two"].id) == ["h"]
    async with db.unit_of_work() as session:
        all_tags = sorted((await session.scalars(select(MemberTag.tag))).all())
        all_ids = sorted((await session.scalars(select(MemberIdentity.external_id))).all())
    assert all_tags == ["a", "h"]
    assert all_ids == ["111", "888"]
    assert await count_rows(db, MemberEvent) == 3  # two "created", one "consent_given"
    good = members["Good One"]
    assert (good.source, good.marketing_consent, good.email) == ("event", True, "good@example.com")


async def test_a_too_long_name_is_a_problem(db: Database, factory: Factory, tmp_path: Path) -> None:
    shop = await factory.shop()
    path = _csv(tmp_path, f"display_name,phone\n{'x' * 201},13800138000\n{'y' * 200},\n")
    report = await _run(db, shop, path, {})
    assert _totals(report) == (2, 1, 0, 1)
    assert report.problems == [RowProblem(2, "display_name", "longer than 200 characters")]
    assert list(await _members(db, shop)) == ["y" * 200]


async def test_tags_follow_the_same_rules_as_in_the_api(
    db: Database, factory: Factory, tmp_path: Path
) -> None:
    """The API refuses tags with commas or control characters and tags over 50 characters; an
    import reports them instead of storing them (or storing them cut short)."""
    shop = await factory.shop()
    path = _write(
        tmp_path,
        ["display_name", "tags"],
        ["Comma", "fruit;a,b"],
        ["Long", "fruit;" + "x" * 60],
        ["Control", "fruit;bell\x07"],
        ["Fine", "Fruit; " + "y" * 50],
    )
    report = await _run(db, shop, path, {})
    assert _totals(report) == (4, 1, 0, 3)
    assert _pairs(report) == [(2, "tags"), (3, "tags"), (4, "tags")]
    assert sorted(await _members(db, shop)) == ["Fine"]
    async with db.unit_of_work() as session:
        assert sorted((await session.scalars(select(MemberTag.tag))).all()) == ["fruit", "y" * 50]


# ------------------------------------------------------------------------------------ duplicates

DUPLICATES = """
Name,Mobile,Telegram
Existing Phone,+86 138 0013 8000,
Existing Identity,13900139000,999
New One,13700137000,888
Dup Phone In File,137 0013 7000,
Dup Identity In File,13600136000,888
Fresh,13500135000,
"""


async def _existing(factory: Factory, shop: Shop) -> uuid.UUID:
    view = await factory.member(
        shop,
        display_name="Already Here",
        phone="13800138000",
        identities=[{"channel": "telegram", "external_id": "999"}],
    )
    return view.member.id


async def test_duplicates_in_the_file_and_in_the_database_are_skipped(
    db: Database, factory: Factory, tmp_path: Path
) -> None:
    shop = await factory.shop()
    existing = await _existing(factory, shop)
    path = _csv(tmp_path, DUPLICATES)
    mapping = {"Name": "display_name", "Mobile": "phone", "Telegram": "identity:telegram"}
    report = await _run(db, shop, path, mapping, on_duplicate="skip")
    assert _totals(report) == (6, 2, 4, 0)
    assert report.problems == []
    members = await _members(db, shop)
    assert sorted(members) == ["Already Here", "Fresh", "New One"]
    assert members["Already Here"].id == existing
    assert members["Already Here"].phone == "+8613800138000"
    assert await _identities(db, existing) == [("telegram", "999")]
    assert await _identities(db, members["New One"].id) == [("telegram", "888")]
    assert await count_rows(db, MemberIdentity) == 2
    assert await count_rows(db, MemberEvent) == 3


async def test_duplicates_are_reported_when_asked_to(
    db: Database, factory: Factory, tmp_path: Path
) -> None:
    shop = await factory.shop()
    await _existing(factory, shop)
    path = _csv(tmp_path, DUPLICATES)
    mapping = {"Name": "display_name", "Mobile": "phone", "Telegram": "identity:telegram"}
    report = await _run(db, shop, path, mapping, on_duplicate="error")
    assert _totals(report) == (6, 2, 0, 4)
    assert report.problems == [
        RowProblem(2, "Mobile", "phone +8613800138000 already belongs to a member"),
        RowProblem(3, "Telegram", "telegram identity 999 already belongs to a member"),
        RowProblem(5, "Mobile", "phone +8613700137000 already belongs to a member"),
        RowProblem(6, "Telegram", "telegram identity 888 already belongs to a member"),
    ]
    assert sorted(await _members(db, shop)) == ["Already Here", "Fresh", "New One"]
    assert await count_rows(db, MemberIdentity) == 2


async def test_a_second_import_of_the_same_file_imports_nothing(
    db: Database, factory: Factory, tmp_path: Path
) -> None:
    shop = await factory.shop()
    path = _csv(tmp_path, "Name,phone,Tags\nLin,13800138000,vip\nZhang,13900139000,\n")
    first = await _run(db, shop, path, {"Name": "display_name"})
    assert _totals(first) == (2, 2, 0, 0)
    second = await _run(db, shop, path, {"Name": "display_name"})
    assert _totals(second) == (2, 0, 2, 0)
    assert await count_rows(db, Member) == 2
    assert await count_rows(db, MemberTag) == 1


# --------------------------------------------------------------------------------------- dry run


async def test_a_dry_run_reports_everything_and_writes_nothing(
    db: Database, factory: Factory, tmp_path: Path
) -> None:
    shop = await factory.shop()
    path = _csv(
        tmp_path,
        """
Name,Mobile,Tags,Telegram
Lin,13800138000,vip,1
Zhang,13900139000,,2
Bad,12345,x,3
Twin,138 0013 8000,,4
""",
    )
    mapping = {"Name": "display_name", "Mobile": "phone", "Telegram": "identity:telegram"}
    report = await _run(db, shop, path, mapping, dry_run=True)
    assert _totals(report) == (4, 2, 1, 1)
    assert _pairs(report) == [(4, "Mobile")]
    for model in (Member, MemberTag, MemberIdentity, MemberEvent):
        assert await count_rows(db, model) == 0, model

    real = await _run(db, shop, path, mapping)
    assert _totals(real) == _totals(report)
    assert sorted(await _members(db, shop)) == ["Lin", "Zhang"]


# ------------------------------------------------------------------------------------- time zone


async def test_naive_joined_at_is_read_in_the_merchants_time_zone(
    db: Database, factory: Factory, tmp_path: Path
) -> None:
    shop = await factory.shop()
    assert shop.tenant.timezone == "Asia/Shanghai"
    path = _csv(
        tmp_path,
        """
display_name,joined_at
Naive,2024-03-01 08:00
Naive T,2024-03-01T08:30:15
Date only,2024-03-01
Aware,2024-03-01T08:00:00+00:00
Aware Z,2024-03-01T08:00:00Z
Bad,2024-03-01 25:00
Bad date,2024-02-30
""",
    )
    report = await _run(db, shop, path, {})
    assert _totals(report) == (7, 5, 0, 2)
    assert _pairs(report) == [(7, "joined_at"), (8, "joined_at")]
    joined = {name: m.joined_at for name, m in (await _members(db, shop)).items()}
    assert joined == {
        "Naive": datetime(2024, 3, 1, 0, 0, tzinfo=UTC),
        "Naive T": datetime(2024, 3, 1, 0, 30, 15, tzinfo=UTC),
        "Date only": datetime(2024, 2, 29, 16, 0, tzinfo=UTC),
        "Aware": datetime(2024, 3, 1, 8, 0, tzinfo=UTC),
        "Aware Z": datetime(2024, 3, 1, 8, 0, tzinfo=UTC),
    }


async def test_each_merchant_imports_into_its_own_members_only(
    db: Database, factory: Factory, tmp_path: Path
) -> None:
    mine, theirs = await factory.shop(), await factory.shop()
    await factory.member(theirs, display_name="Theirs", phone="13800138000")
    path = _csv(tmp_path, "display_name,phone\nMine,13800138000\n")
    report = await _run(db, mine, path, {})
    assert _totals(report) == (1, 1, 0, 0)
    assert sorted(await _members(db, mine)) == ["Mine"]
    assert sorted(await _members(db, theirs)) == ["Theirs"]
