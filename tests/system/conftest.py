"""System tests: the real app, a real database, the site simulator and a real SMTP server.

Each test leaves a line in `report.ROWS`; the table is printed at the end of the run
(`make test-system`, and inside `make test`).
"""

from __future__ import annotations

from tests.system import report


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    lines = report.table()
    if lines:
        terminalreporter.section("Nocturne system suite: what was tried")
        for line in lines:
            terminalreporter.write_line(line)
