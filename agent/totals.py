"""Per-camera in/out totals that survive restarts, the periods they count in, and crossing events.

The totals live in the outbox's SQLite file (table `totals`) and are written in the same transaction as
the count and crossing messages that carry them (`CountOutbox.put`): after SIGKILL or a power cut the
restored totals are exactly those of the last message queued, never more, never fewer.

A period is what the totals count from: with `[totals] reset_at = "never"` it starts when a camera's
totals were first kept; with a time of day it starts at the last such time in `[totals] timezone`, and
the totals go back to 0 when the next one passes (checked before every frame, and at start for the
time the agent was down). Every count and crossing message carries its `period_start`, so a subscriber
can tell a new period (totals reset on purpose) from lost totals.

Each crossing gets the camera's next crossing `seq` (persisted with the totals, never reset) and an id
`<device_id>/<camera>/<store>/<seq>`, where `store` is a random id made once per state file: ids stay
unique across restarts, and even when the state file is deleted.
"""

from __future__ import annotations

import logging
import sqlite3
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from datetime import time as time_of_day
from zoneinfo import ZoneInfo

from agent.config import TotalsConfig
from agent.counting import CountResult
from agent.topics import CrossingMessage

log = logging.getLogger(__name__)

TOTALS_SCHEMA = """
CREATE TABLE IF NOT EXISTS totals (camera TEXT PRIMARY KEY, period_start REAL NOT NULL, in_total INTEGER NOT NULL,
                                   out_total INTEGER NOT NULL, next_crossing INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

Clock = Callable[[], float]
"""Unix time now (tests inject a fake one)."""


@dataclass(frozen=True)
class CameraTotals:
    """A camera's totals in its current period, and the number its next crossing gets."""

    camera: str
    period_start: datetime
    in_total: int = 0
    out_total: int = 0
    next_crossing: int = 0


def load_totals(db: sqlite3.Connection, camera: str) -> CameraTotals | None:
    row = db.execute("SELECT period_start, in_total, out_total, next_crossing FROM totals WHERE camera = ?",
                     (camera,)).fetchone()
    if row is None:
        return None
    start, in_total, out_total, next_crossing = row
    return CameraTotals(camera, datetime.fromtimestamp(start, timezone.utc), in_total, out_total, next_crossing)


def save_totals(db: sqlite3.Connection, totals: CameraTotals) -> None:
    """Write `totals` (inside the caller's transaction)."""
    db.execute("INSERT OR REPLACE INTO totals (camera, period_start, in_total, out_total, next_crossing) "
               "VALUES (?, ?, ?, ?, ?)", (totals.camera, totals.period_start.timestamp(), totals.in_total,
                                          totals.out_total, totals.next_crossing))


def make_store_id(db: sqlite3.Connection) -> str:
    """This state file's random id, made on first use (crossing ids include it)."""
    db.execute("INSERT OR IGNORE INTO meta (name, value) VALUES ('store_id', ?)", (uuid.uuid4().hex[:12],))
    return db.execute("SELECT value FROM meta WHERE name = 'store_id'").fetchone()[0]


@dataclass(frozen=True)
class ResetPolicy:
    """When totals go back to 0: never (`at` None), or every day at `at` local time in `zone`."""

    at: time_of_day | None = None
    zone: ZoneInfo | None = None

    @classmethod
    def from_config(cls, config: TotalsConfig) -> ResetPolicy:
        at = config.reset_time
        return cls() if at is None else cls(at, ZoneInfo(config.timezone or "UTC"))

    def latest_reset(self, now: datetime) -> datetime | None:
        """The last reset time at or before `now`, in UTC; None when totals never reset.

        Local wall-clock time, so a 06:00 reset stays at 06:00 across daylight saving changes.
        """
        if self.at is None:
            return None
        local = now.astimezone(self.zone)
        reset = datetime.combine(local.date(), self.at, tzinfo=self.zone)
        if reset > local:
            reset = datetime.combine(local.date() - timedelta(days=1), self.at, tzinfo=self.zone)
        return reset.astimezone(timezone.utc)


class TotalsKeeper:
    """One camera's totals, period and crossing numbers; used by the camera's worker thread only.

    `state` is what was last queued (or restored): the worker adopts new totals once the messages that carry
    them are handed to the count writer, which stores them in order and retries until it can.
    """

    def __init__(self, state: CameraTotals, policy: ResetPolicy, id_prefix: str, clock: Clock = time.time) -> None:
        self.state = state
        self.policy = policy
        self.id_prefix = id_prefix
        self.clock = clock
        self.roll_over()

    @classmethod
    def restore(cls, camera: str, stored: CameraTotals | None, policy: ResetPolicy, id_prefix: str,
                clock: Clock = time.time) -> TotalsKeeper:
        """Continue from `stored` (None: a camera counted for the first time); a reset passed while the
        agent was down starts a new period at once."""
        if stored is None:
            now = datetime.fromtimestamp(clock(), timezone.utc)
            stored = CameraTotals(camera, policy.latest_reset(now) or now)
        keeper = cls(stored, policy, id_prefix, clock)
        log.info("camera %s: totals in=%d out=%d since %s, next crossing #%d", camera, keeper.state.in_total,
                 keeper.state.out_total, keeper.state.period_start.isoformat(), keeper.state.next_crossing)
        return keeper

    @classmethod
    def in_memory(cls, camera: str) -> TotalsKeeper:
        """Totals since now, never reset, kept nowhere (tools and tests that publish nothing)."""
        return cls.restore(camera, None, ResetPolicy(), f"local/{camera}")

    def roll_over(self) -> bool:
        """Start a new period (totals 0) if a reset time passed since the current one began."""
        reset = self.policy.latest_reset(datetime.fromtimestamp(self.clock(), timezone.utc))
        if reset is None or reset <= self.state.period_start:
            return False
        old = self.state
        self.state = replace(old, period_start=reset, in_total=0, out_total=0)
        log.info("camera %s: new period from %s (the last one ended with in=%d out=%d)", old.camera,
                 reset.isoformat(), old.in_total, old.out_total)
        return True

    def record(self, result: CountResult, model: str) -> tuple[list[CrossingMessage], CameraTotals]:
        """One message per crossing confirmed on the frame (stamped with the frame it crossed on), numbered,
        with the totals after it; and the totals after the frame. Nothing changes here until the worker
        adopts the returned totals."""
        state = self.state
        messages = []
        for crossing in result.crossings:
            seq = state.next_crossing
            state = replace(state, next_crossing=seq + 1, in_total=state.in_total + (crossing.direction == "in"),
                            out_total=state.out_total + (crossing.direction == "out"))
            messages.append(CrossingMessage(
                id=f"{self.id_prefix}/{seq}", seq=seq, ts=crossing.ts, camera=state.camera,
                direction=crossing.direction, frame=crossing.frame, track=crossing.track_id, model=model,
                in_total=state.in_total, out_total=state.out_total, period_start=state.period_start,
            ))
        return messages, state
