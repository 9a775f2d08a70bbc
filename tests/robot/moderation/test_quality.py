"""Quality on the labelled corpus: with the shop default policy, at least 97 % of spam caught
and at most 1 % of ordinary messages touched. The figures are printed (``pytest -s``), for the
whole corpus and for each of its two parts, and kept in docs/moderation.md:

* corpus/spam.jsonl and corpus/ham.jsonl, made by corpus/generate.py from templates;
* corpus/handwritten.jsonl, messages written one by one (80 spam, 80 ordinary).

The shop default policy is ``Policy`` with the shop's own domain and Telegram channel allowed;
each message comes from a regular member (a month in the group, 40 messages before) with no
recent activity, so the rules that read only the text decide.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tribekit.robot.moderation import Message, Policy, compile

CORPUS = Path(__file__).parent / "corpus"
SHOP_DEFAULT = Policy.model_validate(
    {"links": {"allowed_domains": ["greenwoodfruit.com", "t.me/greenwood_fruit"]}}
)
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def _rows(name: str) -> list[dict[str, str]]:
    lines = (CORPUS / name).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


FILES = ("spam.jsonl", "ham.jsonl", "handwritten.jsonl")


def test_the_corpus_is_big_enough_and_balanced() -> None:
    rows = [row for name in FILES for row in _rows(name)]
    assert len({row["text"] for row in rows}) == len(rows)  # no message twice
    for label in ("spam", "ham"):
        languages = Counter(row["language"] for row in rows if row["label"] == label)
        assert languages["en"] == languages["zh"]
        assert languages["en"] + languages["zh"] >= 500


def _measure(rows: list[dict[str, str]]) -> tuple[float, float, list[str]]:
    engine = compile(SHOP_DEFAULT)
    flagged: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    notes: list[str] = []
    for row in rows:
        message = Message(
            text=row["text"],
            group_id="g1",
            at=NOW,
            member_for=timedelta(days=30),
            messages_before=40,
        )
        verdict = engine.check(message)
        label = row["label"]
        totals[label] += 1
        totals[f"{label}:{row['language']}"] += 1
        if verdict is not None:
            flagged[label] += 1
            flagged[f"{label}:{row['language']}"] += 1
            flagged[f"{label} by {verdict.rule.value}"] += 1
            if label == "ham":
                notes.append(f"  touched ({verdict.rule.value}): {row['text']}")
        elif label == "spam":
            notes.append(f"  missed ({row['language']}, {row['kind']}): {row['text']}")

    def share(key: str) -> float:
        return 100 * flagged[key] / totals[key]

    print(
        f"spam caught {share('spam'):.1f} % of {totals['spam']} (en {share('spam:en'):.1f} %,"
        f" zh {share('spam:zh'):.1f} %); ordinary messages touched {share('ham'):.1f} % of"
        f" {totals['ham']} (en {share('ham:en'):.1f} %, zh {share('ham:zh'):.1f} %)"
    )
    print("  by rule:", {k: v for k, v in sorted(flagged.items()) if " by " in k})
    return share("spam"), share("ham"), notes


def test_quality_on_the_corpus() -> None:
    for part, files in (("generated", FILES[:2]), ("handwritten", FILES[2:])):
        print(f"\n{part}:", end=" ")
        _, _, notes = _measure([row for name in files for row in _rows(name)])
        print("\n".join(notes))
    print("\nwhole corpus:", end=" ")
    caught, touched, _ = _measure([row for name in FILES for row in _rows(name)])
    assert caught >= 97.0
    assert touched <= 1.0
