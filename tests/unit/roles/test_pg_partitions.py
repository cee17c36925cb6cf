"""The postgresql role's partition maintenance planner (files/bizra-pg-partitions)."""

import datetime as dt
import importlib.machinery
import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "roles/postgresql/files/bizra-pg-partitions"
loader = importlib.machinery.SourceFileLoader("bizra_pg_partitions", str(SCRIPT))
spec = importlib.util.spec_from_loader("bizra_pg_partitions", loader)
partitions = importlib.util.module_from_spec(spec)
loader.exec_module(partitions)

ORDERS = {"name": "orders", "interval": "monthly", "premake": 2, "retention": 24}
TRADES = {"name": "trades", "interval": "weekly", "premake": 1, "retention": 52}


def test_monthly_partitions_ahead_and_across_the_year():
    create, expire = partitions.plan(ORDERS, set(), dt.date(2026, 11, 23))
    assert create == [
        ("orders_p2026_11", dt.date(2026, 11, 1), dt.date(2026, 12, 1)),
        ("orders_p2026_12", dt.date(2026, 12, 1), dt.date(2027, 1, 1)),
        ("orders_p2027_01", dt.date(2027, 1, 1), dt.date(2027, 2, 1)),
    ]
    assert expire == []


def test_existing_partitions_are_not_created_again():
    create, _ = partitions.plan(ORDERS, {"orders_p2026_11", "orders_p2026_12", "orders_p2027_01"},
                                dt.date(2026, 11, 30))
    assert create == []


def test_weekly_partitions_follow_iso_weeks():
    create, _ = partitions.plan(TRADES, set(), dt.date(2026, 12, 30))  # a Wednesday in ISO week 53
    assert create == [
        ("trades_p2026w53", dt.date(2026, 12, 28), dt.date(2027, 1, 4)),
        ("trades_p2027w01", dt.date(2027, 1, 4), dt.date(2027, 1, 11)),
    ]


def test_retention_keeps_whole_periods_and_expires_only_managed_names():
    existing = {"orders_p2024_10", "orders_p2024_11", "orders_p2024_12", "orders_p2026_11",
                "orders_archive", "orders_p2024_13", "ordersx_p2020_01"}
    _, expire = partitions.plan(ORDERS, existing, dt.date(2026, 11, 23))
    # 24 months back from November 2026: November 2024 is the oldest kept
    assert expire == ["orders_p2024_10"]


def test_weekly_retention():
    _, expire = partitions.plan(TRADES, {"trades_p2025w47", "trades_p2025w48", "trades_p2026w48"},
                                dt.date(2026, 11, 23))  # Monday of 2026-W48
    assert expire == ["trades_p2025w47"]


@pytest.mark.parametrize(("interval", "text", "expected"), [
    ("monthly", "p2026_02", dt.date(2026, 2, 1)),
    ("monthly", "p2026_13", None),
    ("weekly", "p2026w01", dt.date(2025, 12, 29)),
    ("weekly", "p2026w54", None),
    ("daily", "p2026_02_30", None),
    ("daily", "p2026_02_28", dt.date(2026, 2, 28)),
])
def test_partition_names_parse_back(interval, text, expected):
    assert partitions.start_of_suffix(interval, text) == expected


def test_index_names_are_derived_and_fit_postgresql():
    assert partitions.index_name({"name": "orders"}, {"columns": ["created_at"], "method": "brin"}) == \
        "orders_created_at_brin_idx"
    assert len(partitions.index_name({"name": "o" * 60}, {"columns": ["x"]})) == 63
