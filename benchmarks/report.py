"""The benchmarks' table: one row per figure, ours against its floor and the goal for
the ratio (a development tool, not part of the app). `benchmarks.run` prints every row;
each benchmark that runs alone prints its own."""

from __future__ import annotations

GOALS = {
    "summaries": 1.5,
    "cohort": 1.5,
    "memory": 1.0,
    "imports": 10.0,
    "saves": 2.0,
    "save_p95": 1.0,
}


def row(figure: str, ours: float, floor: float, goal: str, unit: str) -> dict:
    return {
        "figure": figure,
        "ours": ours,
        "floor": floor,
        "unit": unit,
        "ratio": ours / floor if floor else float("inf"),
        "goal": GOALS.get(goal),
    }


def table(rows: list[dict]) -> str:
    lines = [
        "| figure | ours | floor | ratio | goal |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        goal = r["goal"]
        if r.get("higher_is_better"):
            verdict = f">= {goal}x" + (" ok" if r["ratio"] >= goal else " MISSED")
        elif goal is not None:
            verdict = f"<= {goal}" + (" ok" if r["ratio"] <= goal else " MISSED")
        else:
            verdict = ""
        lines.append(
            f"| {r['figure']} | {r['ours']:.2f} {r['unit']} | {r['floor']:.2f} {r['unit']} "
            f"| {r['ratio']:.2f} | {verdict} |"
        )
    return "\n".join(lines)
