"""Logging under journald: every line carries its syslog priority so `journalctl -p` works."""

from __future__ import annotations

import logging

from agent.cli import JournalFormatter


def test_journal_lines_carry_their_priority() -> None:
    formatter = JournalFormatter("%(levelname)s %(name)s: %(message)s")
    record = logging.LogRecord("agent.stream", logging.WARNING, __file__, 1, "camera %s: lost\nretrying", ("door",),
                               None)
    assert formatter.format(record).splitlines() == ["<4>WARNING agent.stream: camera door: lost", "<4>retrying"]
