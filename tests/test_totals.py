"""Totals kept in the outbox's SQLite file: reset policy, restore, periods, crossing numbering, config errors."""

from __future__ import annotations

import sqlite3
from datetime import datetime, time, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from agent.config import ConfigError, MqttConfig, load_config
from agent.counting import CountResult, Crossing
from agent.mqtt import MqttLink
from agent.outbox import CountOutbox
from agent.topics import CountMessage, Topics
from agent.totals import CameraTotals, ResetPolicy, TotalsKeeper

BERLIN = ZoneInfo("Europe/Berlin")
SIX_BERLIN = ResetPolicy(time(6, 0), BERLIN)
CAMERA = '[[cameras]]\nname = "door"\nsource = "door.avi"\n'


def utc(*fields: int) -> datetime:
    return datetime(*fields, tzinfo=timezone.utc)


class FakeClock:
    """Unix time that moves only when a test says so."""

    def __init__(self, now: datetime) -> None:
        self.now = now.timestamp()

    def __call__(self) -> float:
        return self.now

    def set(self, now: datetime) -> None:
        self.now = now.timestamp()


def outbox(path: Path) -> CountOutbox:
    return CountOutbox(path, MqttLink(MqttConfig(), Topics("headcount", "pc"), "test"))  # never connected


def count(totals: CameraTotals) -> CountMessage:
    return CountMessage(ts=0.0, seq=0, camera=totals.camera, count=1, raw_count=1, in_total=totals.in_total,
                        out_total=totals.out_total, model="m@1", frame=0, period_start=totals.period_start)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (utc(2024, 3, 30, 5, 0), utc(2024, 3, 30, 5, 0)),  # 06:00 CET exactly: the new period starts
        (utc(2024, 3, 30, 4, 59), utc(2024, 3, 29, 5, 0)),  # 05:59 CET: still yesterday's
        (utc(2024, 3, 31, 3, 59), utc(2024, 3, 30, 5, 0)),  # 05:59 CEST, the morning clocks went forward
        (utc(2024, 3, 31, 4, 0), utc(2024, 3, 31, 4, 0)),  # 06:00 CEST is 04:00 UTC
        (utc(2024, 10, 27, 5, 0), utc(2024, 10, 27, 5, 0)),  # back to CET: 06:00 is 05:00 UTC again
    ],
)
def test_daily_reset_follows_local_time_across_daylight_saving(now: datetime, expected: datetime) -> None:
    assert SIX_BERLIN.latest_reset(now) == expected


def test_never_resets() -> None:
    assert ResetPolicy().latest_reset(utc(2024, 1, 1)) is None


def test_totals_and_crossing_numbers_are_queued_together_and_restored(tmp_path: Path) -> None:
    clock = FakeClock(utc(2024, 5, 2, 8, 0))
    box = outbox(tmp_path / "q.sqlite")
    keeper = TotalsKeeper.restore("door", box.totals("door"), SIX_BERLIN, f"pc/door/{box.store_id}", clock)
    assert keeper.state == CameraTotals("door", utc(2024, 5, 2, 4, 0))  # today's 06:00 CEST
    result = CountResult(2, 2, 1, [Crossing(7, "in", 1.5, 42), Crossing(8, "in", 1.6, 43), Crossing(9, "out", 1.6, 43)])
    crossings, totals = keeper.record(result, model="m@1")
    assert [(c.seq, c.direction, c.track, c.in_total, c.out_total, c.frame) for c in crossings] == \
        [(0, "in", 7, 1, 0, 42), (1, "in", 8, 2, 0, 43), (2, "out", 9, 2, 1, 43)]
    assert [c.id for c in crossings] == [f"pc/door/{box.store_id}/{n}" for n in range(3)]
    assert keeper.state.in_total == 0, "nothing is adopted before it was queued"
    box.put(count(totals), crossings, totals)
    store = box.store_id
    box.close()

    again = outbox(tmp_path / "q.sqlite")
    assert again.store_id == store and again.stats().depth == 4
    restored = TotalsKeeper.restore("door", again.totals("door"), SIX_BERLIN, "pc/door/x", clock)
    assert restored.state == CameraTotals("door", utc(2024, 5, 2, 4, 0), 2, 1, 3)
    with sqlite3.connect(tmp_path / "q.sqlite") as db:
        assert [t for (t,) in db.execute("SELECT topic FROM messages ORDER BY id")] == ["crossing"] * 3 + ["count"]
    again.close()


def test_a_reset_passed_while_stopped_starts_a_new_period_and_numbers_go_on(tmp_path: Path) -> None:
    stored = CameraTotals("door", utc(2024, 5, 1, 4, 0), 17, 12, 29)
    clock = FakeClock(utc(2024, 5, 2, 3, 59))  # 05:59 local: still the period of May 1st
    keeper = TotalsKeeper.restore("door", stored, SIX_BERLIN, "pc/door/s", clock)
    assert keeper.state == stored and not keeper.roll_over()
    clock.set(utc(2024, 5, 2, 4, 0))
    assert keeper.roll_over() and keeper.state == CameraTotals("door", utc(2024, 5, 2, 4, 0), 0, 0, 29)
    clock.set(utc(2024, 5, 4, 12, 0))  # down for two days
    late = TotalsKeeper.restore("door", stored, SIX_BERLIN, "pc/door/s", clock)
    assert late.state == CameraTotals("door", utc(2024, 5, 4, 4, 0), 0, 0, 29)


def test_a_clock_set_back_never_reopens_an_old_period() -> None:
    stored = CameraTotals("door", utc(2024, 5, 2, 4, 0), 5, 5, 10)
    keeper = TotalsKeeper.restore("door", stored, SIX_BERLIN, "pc/door/s", FakeClock(utc(2024, 5, 2, 3, 0)))
    assert keeper.state == stored


def test_never_keeps_the_first_start_as_the_period(tmp_path: Path) -> None:
    clock = FakeClock(utc(2024, 5, 2, 9, 30))
    keeper = TotalsKeeper.restore("door", None, ResetPolicy(), "pc/door/s", clock)
    assert keeper.state.period_start == utc(2024, 5, 2, 9, 30)
    clock.set(utc(2025, 1, 1))
    assert not keeper.roll_over() and keeper.state.period_start == utc(2024, 5, 2, 9, 30)


def test_an_older_queue_file_is_upgraded_and_its_messages_still_go_out_as_counts(tmp_path: Path) -> None:
    path = tmp_path / "q.sqlite"
    with sqlite3.connect(path) as db:  # the schema before totals and crossings
        db.executescript("""
            CREATE TABLE messages (id INTEGER PRIMARY KEY AUTOINCREMENT, camera TEXT NOT NULL,
                                   seq INTEGER NOT NULL, payload BLOB NOT NULL);
            CREATE TABLE sequence (camera TEXT PRIMARY KEY, next INTEGER NOT NULL);
            INSERT INTO messages (camera, seq, payload) VALUES ('door', 0, '{}');
            INSERT INTO sequence (camera, next) VALUES ('door', 1);
        """)
    box = outbox(path)
    assert box.stats().depth == 1 and box.totals("door") is None
    box.close()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT topic FROM messages").fetchall() == [("count",)]


@pytest.mark.parametrize(
    ("totals", "expected"),
    [
        ('reset_at = "25:00"', "totals.reset_at: Value error, '25:00' is neither \"never\" nor a time of day"),
        ('reset_at = "6am"\ntimezone = "UTC"', "totals.reset_at: Value error, '6am' is neither"),
        ('reset_at = "06:00"\ntimezone = "Mars/Olympus"', "totals.timezone: Value error, unknown time zone "
                                                          "'Mars/Olympus'"),
        ('reset_at = "06:00"\ntimezone = "../../etc/passwd"', "totals.timezone: Value error, unknown time zone"),
        ('reset_at = "06:00"\ntimezone = "Europe"', "totals.timezone: Value error, unknown time zone 'Europe'"),
        ('reset_at = "06:00"', 'totals: Value error, timezone is required with reset_at = "06:00"'),
        ("reset = \"never\"", "totals.reset: Extra inputs are not permitted"),
    ],
)
def test_bad_reset_settings_name_the_field(tmp_path: Path, totals: str, expected: str) -> None:
    path = tmp_path / "agent.toml"
    path.write_text(f"[totals]\n{totals}\n\n{CAMERA}")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert expected in str(info.value) and str(path) in str(info.value)


def test_reset_settings_that_parse(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    path.write_text(f'[totals]\nreset_at = "06:00"\ntimezone = "Europe/Berlin"\n\n{CAMERA}')
    policy = ResetPolicy.from_config(load_config(path).totals)
    assert policy == SIX_BERLIN
