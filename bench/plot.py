#!/usr/bin/env python3
"""Plots of docs/performance.md, drawn from the figures the bench wrote to bench/results/.

Run by `scripts/bench` after the scenarios (it installs matplotlib into .bench/plot-venv); every number in
a plot comes from one bench run's JSON, so the pictures cannot drift from the tables.
"""
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

RESULTS = Path(sys.argv[1] if len(sys.argv) > 1 else "bench/results")
OUT = Path(sys.argv[2] if len(sys.argv) > 2 else "docs/performance")


def load(name):
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def requests_per_job(backfill, peers):
    """Requests per ingested job: gha-ingest, its physical minimum, and each peer."""
    labels, values = ["gha-ingest", "minimum\n(gha-ingest's facts)"], [
        backfill["requests"],
        backfill["requests_minimum"],
    ]
    for peer in (peers or {}).get("peers", []):
        if "requests" in peer and not peer.get("error"):
            labels.append(peer["name"].replace("-", "-\n", 1) + (f"\n({peer['variant']})" if peer.get("variant") else ""))
            values.append(peer["requests"])
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.bar(labels, values, color=["#2b6cb0", "#90cdf4"] + ["#a0aec0"] * (len(values) - 2))
    ax.set_ylabel("requests for the whole history")
    ax.set_title(f"Requests, {backfill['history']['runs']} runs (gha-ingest also reads commits and PRs)")
    for index, value in enumerate(values):
        ax.text(index, value, f"{value:,}", ha="center", va="bottom", fontsize=8)
    fig.tight_layout()
    fig.savefig(OUT / "requests.png", dpi=110)


def growth(backfill):
    """Wall, CPU and peak RSS at the two history sizes."""
    sizes = [backfill["history"]["runs"], backfill["larger"]["history"]["runs"]]
    fig, (left, right) = plt.subplots(1, 2, figsize=(8, 3.2))
    left.plot(sizes, [backfill["wall_secs"], backfill["larger"]["wall_secs"]], "o-", label="wall")
    left.plot(sizes, [backfill["cpu_secs"], backfill["larger"]["cpu_secs"]], "s-", label="CPU")
    left.set_xlabel("runs in the history")
    left.set_ylabel("seconds")
    left.legend()
    left.set_title("Backfill time by history size")
    right.plot(sizes, [backfill["peak_rss_mib"], backfill["larger"]["peak_rss_mib"]], "o-", color="#805ad5")
    right.set_xlabel("runs in the history")
    right.set_ylabel("MiB")
    right.set_ylim(bottom=0)
    right.set_title("Peak RSS by history size")
    fig.tight_layout()
    fig.savefig(OUT / "growth.png", dpi=110)


def freshness(figures):
    """Distribution of state change -> event on the queue, and job end -> log on the queue."""
    fig, ax = plt.subplots(figsize=(7, 3.2))
    series = [("events", figures.get("event_lags_secs", [])), ("logs", figures.get("log_lags_secs", []))]
    for label, lags in series:
        if lags:
            ordered = sorted(lags)
            ax.plot(ordered, [(i + 1) / len(ordered) for i in range(len(ordered))], label=f"{label} ({len(ordered)})")
    ax.set_xlabel("seconds from GitHub's change to the message on the queue")
    ax.set_ylabel("share of messages")
    ax.set_title(f"Freshness at poll_interval_secs = {figures.get('poll_interval_secs')}")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(OUT / "freshness.png", dpi=110)


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    backfill, peers, fresh = load("backfill"), load("peers"), load("freshness")
    if backfill:
        requests_per_job(backfill, peers)
        growth(backfill)
    if fresh:
        freshness(fresh)
    print(f"plots written to {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
