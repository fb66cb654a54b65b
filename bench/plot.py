"""The plot docs/BENCHMARKS.md shows: latency percentiles per route under load."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def plot_latency(rows: list[dict[str, Any]], path: Path, document: dict[str, Any]) -> None:
    """Grouped bars of P50/P95/P99 per route, with the 25 ms target line."""
    import matplotlib

    matplotlib.use("Agg")  # no display here
    import matplotlib.pyplot as plt

    shown = [r for r in rows if r["requests"]]
    names = [_short(r["route"]) for r in shown]
    fig, ax = plt.subplots(figsize=(12, 5.5))
    width = 0.27
    for offset, key, label in ((-width, "p50_ms", "P50"), (0.0, "p95_ms", "P95"),
                               (width, "p99_ms", "P99")):  # fmt: skip
        ax.bar([i + offset for i in range(len(shown))], [r[key] for r in shown], width, label=label)
    ax.axhline(25, color="red", linestyle="--", linewidth=1, label="P95 target (25 ms)")
    ax.set_xticks(range(len(shown)), names, fontsize=8, rotation=20, ha="right")
    ax.set_ylabel("latency (ms)")
    settings, machine = document["settings"], document["machine"]
    ax.set_title(
        f"{settings['users']} users for {settings['seconds']} s, "
        f"{document['throughput_rps']:.0f} reads/s, errors {document['error_rate']:.3%} — "
        f"{machine['nproc']} × {machine['cpu']}, {machine['date'][:10]}",
        fontsize=9,
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _short(route: str) -> str:
    for long, short in (("/v1/students/{student_id}", "student"), ("/v1/classes/{class_id}", "class"),
                        ("/topics/{topic_id}", "/topic"), (" (producer)", "")):  # fmt: skip
        route = route.replace(long, short)
    return route
