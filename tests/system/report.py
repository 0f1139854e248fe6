"""What the system suite tried, kept for the table printed at the end of the run."""

from __future__ import annotations

ROWS: list[dict] = []


def record(category: str, name: str, outcome: str, **numbers: object) -> None:
    """One line of the summary: a load held, a fault survived, a hostile input tried."""
    ROWS.append({"category": category, "name": name, "outcome": outcome, **numbers})


def table() -> list[str]:
    if not ROWS:
        return []
    lines = [f"{'category':10} {'what':48} {'outcome':10} numbers"]
    for row in ROWS:
        numbers = ", ".join(
            f"{k}={v}" for k, v in row.items() if k not in ("category", "name", "outcome")
        )
        lines.append(f"{row['category']:10} {row['name'][:48]:48} {row['outcome']:10} {numbers}")
    lost = sum(int(r.get("lost", 0) or 0) for r in ROWS)
    lines.append(f"events lost across all scenarios: {lost}")
    return lines
