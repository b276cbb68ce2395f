"""Store-and-forward for count and crossing messages: on disk before publishing, deleted only after the PUBACK.

SQLite in WAL mode with `synchronous=FULL`: a message whose `put` returned survives SIGKILL and power
loss. `put` waits for the disk, so the agent calls it from one writer thread (`agent.count_writer`), never
from a camera's. One sender thread hands messages to paho in id order while connected, at most `WINDOW`
unacked at a time. On every (re)connection paho's own unacknowledged messages are dropped and the sender starts
again from the oldest message still on disk, so the backlog always goes out in id order (paho would
otherwise re-send its in-flight messages after newer ones). After a restart the same happens. Delivery is
at least once, in order per camera; `seq` (crossings: `id`) lets subscribers drop duplicates. The queue is
bounded: when full, the oldest messages are dropped and counted.

The same file keeps each camera's totals (`agent.totals`), written in the transaction that queues the
messages carrying them, so restored totals always match what was queued.

Locks: paho calls `on_publish` with its own lock held, so the ack handler only enqueues the message id
and the sender thread does the bookkeeping. `_handover` is always taken before any paho lock (sender:
around publishing a batch; paho's thread: around dropping its messages on connect), never after.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from agent.mqtt import MqttLink
from agent.topics import CountMessage, CrossingMessage
from agent.totals import TOTALS_SCHEMA, CameraTotals, load_totals, make_store_id, save_totals

log = logging.getLogger(__name__)

WINDOW = 100
SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (id INTEGER PRIMARY KEY AUTOINCREMENT, camera TEXT NOT NULL,
                                     seq INTEGER NOT NULL, payload BLOB NOT NULL,
                                     topic TEXT NOT NULL DEFAULT 'count');
CREATE TABLE IF NOT EXISTS sequence (camera TEXT PRIMARY KEY, next INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


@dataclass(frozen=True)
class QueueStats:
    depth: int
    dropped: int


class CountOutbox:
    """Numbers, persists and forwards count and crossing messages, and keeps the cameras' totals.
    `start()` the sender, `close()` at the end."""

    def __init__(self, path: Path, link: MqttLink, max_messages: int = 100_000) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.link = link
        self.max_messages = max_messages
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA + TOTALS_SCHEMA)
        if "topic" not in {column for _, column, *_ in self._db.execute("PRAGMA table_info(messages)")}:
            self._db.execute("ALTER TABLE messages ADD COLUMN topic TEXT NOT NULL DEFAULT 'count'")  # older files
        self.store_id = make_store_id(self._db)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._acks: queue.SimpleQueue[int] = queue.SimpleQueue()
        self._inflight: dict[int, int] = {}  # paho mid -> row id
        self._last_handed = 0
        self._handover = threading.Lock()
        self._online = threading.Event()
        self._restart = threading.Event()
        self._thread = threading.Thread(target=self._send_loop, name="outbox", daemon=True)
        link.on_publish(self._on_puback)
        link.on_connect(self._on_connected)
        link.on_disconnect(self._online.clear)
        # Depth and drops are kept in memory (read from disk once here) so that neither a put nor a
        # telemetry sample has to count the table.
        (self._depth,) = self._db.execute("SELECT COUNT(*) FROM messages").fetchone()
        row = self._db.execute("SELECT value FROM counters WHERE name = 'dropped'").fetchone()
        self._dropped = row[0] if row else 0
        if self._depth:
            log.info("outbox %s: %d message(s) from before the restart will be sent first", self.path, self._depth)

    # ---- producer side --------------------------------------------------------------------------
    def put(self, message: CountMessage, crossings: Sequence[CrossingMessage] = (),
            totals: CameraTotals | None = None) -> CountMessage:
        """Store a frame's crossing events, its count message (numbered with the camera's next seq) and the
        camera's totals durably, in one transaction: all of them or none. Returns the numbered message."""
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                for crossing in crossings:
                    db.execute("INSERT INTO messages (camera, seq, payload, topic) VALUES (?, ?, ?, 'crossing')",
                               (crossing.camera, crossing.seq, crossing.to_json()))
                row = db.execute("SELECT next FROM sequence WHERE camera = ?", (message.camera,)).fetchone()
                seq = row[0] if row else 0
                numbered = message.model_copy(update={"seq": seq})
                db.execute("INSERT INTO messages (camera, seq, payload) VALUES (?, ?, ?)",
                           (message.camera, seq, numbered.to_json()))
                db.execute("INSERT OR REPLACE INTO sequence (camera, next) VALUES (?, ?)", (message.camera, seq + 1))
                if totals is not None:
                    save_totals(db, totals)
                added = 1 + len(crossings)
                dropped = self._enforce_bound(self._depth + added)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            self._depth += added - dropped
            self._dropped += dropped
        self._wake.set()
        return numbered

    def totals(self, camera: str) -> CameraTotals | None:
        """`camera`'s totals as last queued; None if it was never counted here."""
        with self._lock:
            return load_totals(self._db, camera)

    def _enforce_bound(self, depth: int) -> int:
        """Drop the oldest messages beyond the bound (inside the caller's transaction); returns how many."""
        excess = depth - self.max_messages
        if excess > 0:
            self._db.execute("DELETE FROM messages WHERE id IN (SELECT id FROM messages ORDER BY id LIMIT ?)",
                             (excess,))
            self._db.execute("INSERT INTO counters (name, value) VALUES ('dropped', ?) "
                             "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value", (excess,))
            log.warning("outbox full (%d messages): dropped the %d oldest", self.max_messages, excess)
        return max(excess, 0)

    def stats(self) -> QueueStats:
        with self._lock:
            return QueueStats(self._depth, self._dropped)

    # ---- sender side ----------------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def _on_connected(self) -> None:
        """In paho's thread, before paho re-sends anything: send the backlog from disk, in order."""
        with self._handover:
            self.link.client.drop_out_messages()
            self._restart.set()
            self._online.set()
        self._wake.set()

    def _on_puback(self, mid: int) -> None:
        self._acks.put(mid)  # runs in paho's thread with paho's lock held: do nothing more
        self._wake.set()

    def _send_loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(0.5)
            self._wake.clear()
            self._settle_acks()
            self._hand_over()

    def _settle_acks(self) -> None:
        done = []
        while True:
            try:
                mid = self._acks.get_nowait()
            except queue.Empty:
                break
            row_id = self._inflight.pop(mid, None)
            if row_id is not None:
                done.append((row_id,))
        if done:
            with self._lock:
                self._depth -= self._db.executemany("DELETE FROM messages WHERE id = ?", done).rowcount

    def _hand_over(self) -> None:
        with self._handover:
            if self._restart.is_set():
                self._restart.clear()
                self._inflight.clear()
                self._last_handed = 0
            room = WINDOW - len(self._inflight)
            if room <= 0 or not self._online.is_set():
                return
            with self._lock:
                rows = self._db.execute(
                    "SELECT id, camera, payload, topic FROM messages WHERE id > ? ORDER BY id LIMIT ?",
                    (self._last_handed, room)).fetchall()
            for row_id, camera, payload, topic in rows:
                info = self.link.publish(topic, bytes(payload), camera=camera)
                self._inflight[info.mid] = row_id
                self._last_handed = row_id
        if rows:
            self._wake.set()  # there may be more behind them

    def flush(self, timeout_s: float) -> bool:
        """Wait until every stored message was acknowledged, at most `timeout_s`; True if empty."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.stats().depth == 0:
                return True
            self._wake.set()
            time.sleep(0.05)
        depth = self.stats().depth
        if depth:
            log.warning("outbox: %d message(s) not yet acknowledged; they stay on disk for the next start", depth)
        return depth == 0

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        with self._lock:
            self._db.close()
