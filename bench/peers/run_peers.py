#!/usr/bin/env python3
"""The `peers` benchmark scenario: two widely used GitHub Actions extractors, synced against the
same simulated history as gha-ingest, so the bench report can put their cost beside ours.

    python3 bench/peers/run_peers.py --bin target/release/gha-ingest --repos 5 --runs 200

For each peer (MeltanoLabs tap-github; Airbyte source-github as shipped and without its
hard-coded throttle) it installs the peer into its own virtualenv (once), starts a fresh
simulator with the same seed and history, runs one full sync of workflow runs and jobs, and
measures wall time, CPU and peak RSS of the peer process, the simulator's request counters and
the records emitted. A short incremental probe afterwards (new runs, a re-run, a completion) shows
what each peer misses; together with the routes it never asked for, that is the `cannot` list.

Progress goes to stderr as `==> ` lines; the last line on stdout is one JSON object (see
README.md). A peer that fails to install, crashes or times out gets an `error` in its entry and
the others still run. Standard library only: this runs before any virtualenv exists.
How each peer behaves here, and why it is configured as it is: shared/PEERS.md.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import http
import http.client
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_VENV_DIR = REPO_ROOT / ".bench" / "venvs"
DEFAULT_WORK_DIR = REPO_ROOT / ".bench" / "peers"
OWNER = "bench"
SEED = 1
# Every child runs without a proxy: the simulator is on loopback.
NO_PROXY_ENV = {"NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}

# The canonical stream names used in the report, whatever each peer calls them.
RUNS = "workflow_runs"
JOBS = "workflow_jobs"


def log(message: str) -> None:
    print(f"==> {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# Child processes: every one is registered so nothing outlives the runner, whatever ends it.
# --------------------------------------------------------------------------------------------

_live_children: set[subprocess.Popen] = set()


def spawn(command: list[str], **kwargs: Any) -> subprocess.Popen:
    """Starts a child in its own process group, so the whole tree can be killed at once (the
    peers' launchers may fork), and registers it for the exit handlers."""
    child = subprocess.Popen(command, start_new_session=True, **kwargs)
    _live_children.add(child)
    return child


def kill_tree(child: subprocess.Popen, grace_secs: float = 3.0) -> None:
    """SIGTERM to the child's process group, SIGKILL after a grace period, then reaps it."""
    for sig, wait_secs in ((signal.SIGTERM, grace_secs), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(child.pid, sig)
        except ProcessLookupError:
            break
        try:
            child.wait(timeout=wait_secs)
            break
        except subprocess.TimeoutExpired:
            continue
    _live_children.discard(child)


def kill_all_children() -> None:
    for child in list(_live_children):
        kill_tree(child, grace_secs=1.0)


def install_exit_handlers() -> None:
    """atexit covers normal ends and uncaught exceptions; signals become SystemExit so `finally`
    blocks run too. SIGINT is set explicitly: a parent that started the runner in the
    background may have left it ignored, and the peers, in their own sessions, never see a
    terminal's Ctrl-C."""
    atexit.register(kill_all_children)

    def exit_on_signal(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, exit_on_signal)


# --------------------------------------------------------------------------------------------
# Installation: one virtualenv per peer, created only when missing or incomplete.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Package:
    distribution: str
    # Requirement specifiers tried in order: the version the figures were taken with, then any
    # patch release of the same minor, in case the exact one is yanked.
    requirements: tuple[str, ...]
    command: str


@dataclass
class Installation:
    venv: Path
    version: str
    install_secs: float | None  # None: it was already there


class InstallError(Exception):
    pass


def ensure_installed(package: Package, venv: Path) -> Installation:
    """Installs `package` into `venv` unless a previous run completed that already. A marker
    file written last tells a finished install from one interrupted half-way, which is rebuilt."""
    marker = venv / ".bench-installed"
    if marker.is_file() and (venv / "bin" / package.command).exists():
        return Installation(venv, installed_version(venv, package), None)
    log(f"installing {package.distribution} into {venv}")
    started = time.monotonic()
    create_venv(venv)
    install_log = venv / "bench-install.log"
    errors = []
    for requirement in package.requirements:
        spec = f"{package.distribution}{requirement}"
        with install_log.open("a") as output:
            result = subprocess.run(
                [
                    str(venv / "bin" / "python"),
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    spec,
                ],
                stdout=output,
                stderr=subprocess.STDOUT,
                check=False,
            )
        if result.returncode == 0:
            break
        errors.append(spec)
    else:
        raise InstallError(
            f"pip install failed for {', '.join(errors)} (see {install_log}: "
            f"{tail(install_log, 3)})"
        )
    marker.write_text(f"{package.distribution}\n")
    return Installation(venv, installed_version(venv, package), time.monotonic() - started)


def create_venv(venv: Path) -> None:
    """`python3 -m venv --clear`; Debian ships venv's ensurepip separately, so as root with apt
    it installs python3-venv once and tries again."""
    command = [sys.executable, "-m", "venv", "--clear", str(venv)]
    venv.parent.mkdir(parents=True, exist_ok=True)
    first = subprocess.run(command, capture_output=True, text=True, check=False)
    if first.returncode == 0:
        return
    if "ensurepip" in first.stdout + first.stderr and os.geteuid() == 0 and shutil.which("apt-get"):
        log("python3 -m venv lacks ensurepip: installing python3-venv")
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "python3-venv"], capture_output=True, check=False
        )
        if subprocess.run(command, capture_output=True, check=False).returncode == 0:
            return
    raise InstallError(f"python3 -m venv {venv} failed: {(first.stderr or first.stdout).strip()}")


def installed_version(venv: Path, package: Package) -> str:
    result = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            f"import importlib.metadata as m; print(m.version({package.distribution!r}))",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.strip() or "unknown"


def tail(path: Path, lines: int) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return ""


# --------------------------------------------------------------------------------------------
# The simulator: one fresh process per measured sync, so every peer starts from the same world.
# --------------------------------------------------------------------------------------------


class Simulator:
    """`gha-ingest sim` as a child process. Started without `--token` and with
    `--accept-any-token`, so it accepts any token or none (tap-github must run without one, see
    PEERS.md), and with GitHub's secondary limits lifted: like the backfill scenario, this
    measures what each tool costs on its own, not how it waits. Admin routes under `/_sim/` are
    not counted in its statistics."""

    def __init__(self, binary: Path, repos: list[str], runs_per_repo: int, log_path: Path):
        command = [
            str(binary),
            "sim",
            "--api-addr",
            "127.0.0.1:0",
            "--log-addr",
            "127.0.0.1:0",
            "--seed",
            str(SEED),
            "--history",
            str(runs_per_repo),
            "--new-run-every-secs",
            "0",
            "--accept-any-token",
            "--secondary-points-per-minute",
            "0",
            "--secondary-max-concurrent",
            "0",
        ]
        for repo in repos:
            command += ["--repo", repo]
        env = {k: v for k, v in os.environ.items() if k != "GHA_INGEST_SIM_TOKEN"}
        self._log = log_path.open("w")
        self._process = spawn(
            command, stdout=subprocess.PIPE, stderr=self._log, env=env | NO_PROXY_ENV
        )
        self.api_url = self._read_urls(log_path)["api_url"].rstrip("/")
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def _read_urls(self, log_path: Path, timeout_secs: float = 120.0) -> dict[str, str]:
        """The simulator prints its URLs once the history exists, so this is also readiness."""
        stdout = self._process.stdout
        ready, _, _ = select.select([stdout], [], [], timeout_secs)
        line = stdout.readline() if ready else b""
        if not line:
            self.close()
            raise RuntimeError(f"simulator printed no URLs: {tail(log_path, 5)}")
        return json.loads(line)

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.api_url}{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with self._opener.open(request, timeout=30) as response:
            payload = response.read()
        return json.loads(payload) if payload else None

    def stats(self) -> dict[str, Any]:
        return self._call("GET", "/_sim/stats")

    def reset_stats(self) -> None:
        self._call("POST", "/_sim/stats/reset")

    def create_run(self, repo: str, **spec: Any) -> int:
        return self._call("POST", f"/_sim/repos/{repo}/runs", spec)["run_id"]

    def rerun(self, repo: str, run_id: int) -> int:
        return self._call("POST", f"/_sim/repos/{repo}/runs/{run_id}/rerun", {})["run_attempt"]

    def close(self) -> None:
        kill_tree(self._process)
        self._log.close()


def count_history(api_url: str, repos: list[str]) -> dict[str, int]:
    """Counts runs and jobs (every attempt) through the public API, as a client would see them.
    Called before the stats are reset, so it costs the measured peer nothing."""
    parsed = urllib.parse.urlsplit(api_url)
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)

    def get(path: str) -> dict[str, Any]:
        connection.request("GET", path, headers={"Accept": "application/vnd.github+json"})
        response = connection.getresponse()
        body = response.read()
        if response.status != http.HTTPStatus.OK:
            raise RuntimeError(f"GET {path}: {response.status}")
        return json.loads(body)

    runs = jobs = 0
    try:
        for repo in repos:
            page, run_ids = 1, []
            while True:
                listing = get(f"/repos/{repo}/actions/runs?per_page=100&page={page}")
                run_ids += [run["id"] for run in listing["workflow_runs"]]
                if not listing["workflow_runs"] or len(run_ids) >= listing["total_count"]:
                    break
                page += 1
            runs += len(run_ids)
            for run_id in run_ids:
                jobs += get(f"/repos/{repo}/actions/runs/{run_id}/jobs?filter=all&per_page=100")[
                    "total_count"
                ]
    finally:
        connection.close()
    return {"runs": runs, "jobs": jobs}


# --------------------------------------------------------------------------------------------
# The peers: how each is configured, which catalog it gets, and how to read its output.
# --------------------------------------------------------------------------------------------


@dataclass
class Variant:
    """One way of running a peer. `prepare_workdir` may change the sync's working directory
    (Airbyte's CDK reads `manifest.yaml` from there before its bundled copy)."""

    name: str
    describe: str
    prepare_workdir: Callable[[Path, Path], None] = lambda venv, workdir: None


class Peer:
    """What the runner needs to know about one peer. Subclasses fill in the protocol details."""

    key: str
    name: str
    package: Package
    # Routes gha-ingest uses that a peer which never requests them cannot deliver.
    commit_routes = ("GET /repos/{owner}/{repo}/commits/{ref}",)
    log_routes = ("GET /repos/{owner}/{repo}/actions/jobs/{job_id}/logs",)

    def variants(self) -> list[Variant]:
        return [Variant("as_shipped", "default settings")]

    def env(self) -> dict[str, str]:
        return dict(os.environ) | NO_PROXY_ENV

    def settings(self) -> dict[str, Any]:
        return {}

    def write_config(self, workdir: Path, api_url: str, repos: list[str]) -> Path:
        raise NotImplementedError

    def discover_command(self, venv: Path, config: Path) -> list[str]:
        raise NotImplementedError

    def build_catalog(self, discover_stdout: str) -> dict[str, Any]:
        raise NotImplementedError

    def read_command(
        self, venv: Path, config: Path, catalog: Path, state: Path | None
    ) -> list[str]:
        raise NotImplementedError

    def record_of(self, message: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        """(canonical stream, record) if `message` is a record of a benchmarked stream."""
        raise NotImplementedError

    def state_slot(self, message: dict[str, Any]) -> str:
        """Which earlier state message this one supersedes. Only the latest per slot is kept:
        the tap's state grows with the square of the run count, and all its messages together
        would make the runner, not the peer, the memory hog."""
        return ""

    def state_from(self, latest: dict[str, dict[str, Any]]) -> Any:
        """The state to hand the next sync, from this sync's latest state message per slot."""
        raise NotImplementedError

    def known_gaps(self) -> list[str]:
        """Gaps from shared/PEERS.md that the probe does not exercise."""
        return []


class TapGithub(Peer):
    key = "tap-github"
    name = "meltanolabs-tap-github"
    package = Package("meltanolabs-tap-github", ("==1.30.1", "==1.30.*"), "tap-github")
    streams = {"workflow_runs": RUNS, "workflow_run_jobs": JOBS}

    def env(self) -> dict[str, str]:
        # Any token is first checked against the real api.github.com, which fails offline: the
        # tap must see none, not even from the environment (PEERS.md, "Auth quirk").
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_TOKEN", "TAP_GITHUB_"))
        }
        # Its default INFO logging costs about a quarter of its CPU; gha-ingest is measured at
        # warn, so the tap is too.
        return env | NO_PROXY_ENV | {"TAP_GITHUB_LOGLEVEL": "WARNING"}

    def settings(self) -> dict[str, Any]:
        return {"organizations": [OWNER], "auth": "none", "log_level": "WARNING"}

    def write_config(self, workdir: Path, api_url: str, repos: list[str]) -> Path:
        # `organizations` rather than `repositories`: with repositories the tap first sends a
        # GraphQL query, which the simulator does not serve. The org holds exactly `repos`.
        config = workdir / "config.json"
        config.write_text(json.dumps({"api_url_base": api_url, "organizations": [OWNER]}))
        return config

    def discover_command(self, venv: Path, config: Path) -> list[str]:
        return [str(venv / "bin" / "tap-github"), "--config", str(config), "--discover"]

    def build_catalog(self, discover_stdout: str) -> dict[str, Any]:
        catalog = json.loads(discover_stdout)
        for stream in catalog["streams"]:
            for entry in stream["metadata"]:
                if entry["breadcrumb"] == []:
                    entry["metadata"]["selected"] = stream["tap_stream_id"] in self.streams
        return catalog

    def read_command(
        self, venv: Path, config: Path, catalog: Path, state: Path | None
    ) -> list[str]:
        command = [
            str(venv / "bin" / "tap-github"),
            "--config",
            str(config),
            "--catalog",
            str(catalog),
        ]
        return command + (["--state", str(state)] if state else [])

    def record_of(self, message: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        if message.get("type") != "RECORD" or message.get("stream") not in self.streams:
            return None
        return self.streams[message["stream"]], message["record"]

    def state_from(self, latest: dict[str, dict[str, Any]]) -> Any:
        return latest[""]["value"] if latest else None


def remove_airbyte_throttle(venv: Path, workdir: Path) -> None:
    """Writes the bundled manifest, with its 900 requests/minute budget raised out of reach, to
    `workdir/manifest.yaml`: the CDK opens `manifest.yaml` in the working directory before the
    packaged one, so the installed connector stays as shipped for the other variant."""
    located = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import pathlib, source_github; "
            "print(pathlib.Path(source_github.__file__).with_name('manifest.yaml'))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    text = Path(located.stdout.strip()).read_text()
    budget_start = text.index("\napi_budget:\n")
    budget_end = text.index("\nconcurrency_level:", budget_start)
    budget = text[budget_start:budget_end]
    if budget.count("- limit: 900\n") != 1:
        raise RuntimeError(
            "the manifest's api_budget no longer reads '- limit: 900': "
            "update remove_airbyte_throttle"
        )
    patched = budget.replace("- limit: 900\n", "- limit: 1000000000\n")
    (workdir / "manifest.yaml").write_text(text[:budget_start] + patched + text[budget_end:])


class AirbyteGithub(Peer):
    key = "airbyte"
    name = "airbyte-source-github"
    package = Package("airbyte-source-github", ("==2.7.1", "==2.7.*"), "source-github")
    streams = {"workflow_runs": RUNS, "workflow_jobs": JOBS}

    def variants(self) -> list[Variant]:
        return [
            Variant("as_shipped", "bundled manifest: 900 requests per minute, then it idles"),
            Variant(
                "unthrottled",
                "manifest's api_budget raised to 10^9 requests per minute",
                remove_airbyte_throttle,
            ),
        ]

    def settings(self) -> dict[str, Any]:
        return {
            "repositories": "each one named",
            "auth": "any personal access token",
            "num_workers": "default (4)",
        }

    def write_config(self, workdir: Path, api_url: str, repos: list[str]) -> Path:
        config = workdir / "config.json"
        config.write_text(
            json.dumps(
                {
                    "credentials": {
                        "option_title": "PAT Credentials",
                        "personal_access_token": "bench-not-a-secret",
                    },
                    "repositories": repos,
                    "api_url": api_url,
                }
            )
        )
        return config

    def discover_command(self, venv: Path, config: Path) -> list[str]:
        return [str(venv / "bin" / "source-github"), "discover", "--config", str(config)]

    def build_catalog(self, discover_stdout: str) -> dict[str, Any]:
        catalog = next(
            message["catalog"]
            for message in parse_lines(discover_stdout)
            if message.get("type") == "CATALOG"
        )
        return {
            "streams": [
                {
                    "stream": stream,
                    "sync_mode": "incremental",
                    "cursor_field": stream.get("default_cursor_field", []),
                    "destination_sync_mode": "append",
                    "primary_key": stream.get("source_defined_primary_key"),
                }
                for stream in catalog["streams"]
                if stream["name"] in self.streams
            ]
        }

    def read_command(
        self, venv: Path, config: Path, catalog: Path, state: Path | None
    ) -> list[str]:
        command = [
            str(venv / "bin" / "source-github"),
            "read",
            "--config",
            str(config),
            "--catalog",
            str(catalog),
        ]
        return command + (["--state", str(state)] if state else [])

    def record_of(self, message: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        if message.get("type") != "RECORD":
            return None
        record = message["record"]
        if record.get("stream") not in self.streams:
            return None
        return self.streams[record["stream"]], record["data"]

    def state_slot(self, message: dict[str, Any]) -> str:
        state = message["state"]
        return state.get("stream", {}).get("stream_descriptor", {}).get("name", "")

    def state_from(self, latest: dict[str, dict[str, Any]]) -> Any:
        return [message["state"] for message in latest.values()]

    def known_gaps(self) -> list[str]:
        return ["keeps to a hard-coded 900 requests per minute (as shipped): not configurable"]


PEERS: dict[str, Peer] = {peer.key: peer for peer in (TapGithub(), AirbyteGithub())}


def parse_lines(text: str) -> list[dict[str, Any]]:
    messages = []
    for line in text.splitlines():
        if line.startswith("{"):
            try:
                messages.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return messages


# --------------------------------------------------------------------------------------------
# One sync, measured.
# --------------------------------------------------------------------------------------------


class OutputCounter:
    """Reads a peer's stdout as it streams, so the peer never blocks on a full pipe: counts the
    records of the benchmarked streams and keeps the latest state messages."""

    def __init__(self, peer: Peer, watch_run_ids: set[int]):
        self.peer = peer
        self.watch_run_ids = watch_run_ids
        self.records: Counter = Counter()
        self.distinct_ids: dict[str, set] = {RUNS: set(), JOBS: set()}
        self.latest_states: dict[str, dict[str, Any]] = {}
        # Records of runs the probe watches, as emitted, in order.
        self.watched: list[tuple[str, dict[str, Any]]] = []
        # (stream, id, hash of the record) of every record, for the probe only: hashing every
        # record of a full sync would take CPU from the peer on a small machine.
        self.digests: set[tuple[str, Any, int]] = set()

    def consume(self, stdout: Any) -> None:
        for line in stdout:
            try:
                message = json.loads(line)
            except json.JSONDecodeError:
                continue
            if message.get("type") == "STATE":
                self.latest_states[self.peer.state_slot(message)] = message
            elif (found := self.peer.record_of(message)) is not None:
                self.count(*found)

    def count(self, stream: str, record: dict[str, Any]) -> None:
        self.records[stream] += 1
        self.distinct_ids[stream].add(record.get("id"))
        if not self.watch_run_ids:
            return
        self.digests.add((stream, record.get("id"), hash(json.dumps(record, sort_keys=True))))
        run_id = record.get("id") if stream == RUNS else record.get("run_id")
        if run_id in self.watch_run_ids:
            self.watched.append((stream, record))


@dataclass
class SyncResult:
    output: OutputCounter
    stderr_log: Path
    wall_secs: float = 0.0
    cpu_secs: float = 0.0
    peak_rss_mib: float = 0.0
    exit_code: int | None = None
    timed_out: bool = False

    @property
    def state(self) -> Any:
        """The state to start the next sync from."""
        return self.output.peer.state_from(self.output.latest_states)


class PeakRssSampler(threading.Thread):
    """The peak RSS of a process tree: the sum of its processes' VmHWM, sampled every 50 ms.
    wait4's ru_maxrss cannot be used: Linux carries the parent's high-water mark across
    fork/vfork and exec, so a child's ru_maxrss is never below the runner's own peak. VmHWM only
    grows, so the last sample before exit misses at most the final 50 ms."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self._root = pid
        self._stopped = threading.Event()
        self.peak_kib = 0

    def run(self) -> None:
        while True:
            self.peak_kib = max(self.peak_kib, sum(map(high_water_kib, process_tree(self._root))))
            if self._stopped.wait(0.05):
                return

    def stop(self) -> None:
        self._stopped.set()
        self.join()


def process_tree(root: int) -> list[int]:
    pids, index = [root], 0
    while index < len(pids):
        task_dir = Path(f"/proc/{pids[index]}/task")
        index += 1
        try:
            for task in task_dir.iterdir():
                pids += [int(pid) for pid in (task / "children").read_text().split()]
        except OSError:
            continue  # gone meanwhile
    return pids


def high_water_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def run_sync(
    peer: Peer,
    command: list[str],
    stderr_log: Path,
    timeout_secs: float,
    watch_run_ids: set[int] = frozenset(),
) -> SyncResult:
    """Runs one sync to its end and measures it. CPU comes from wait4 on the peer process, which
    covers any children it reaped; the runner's own work (parsing the output on another thread)
    is not counted. Peak RSS is sampled (see PeakRssSampler)."""
    result = SyncResult(OutputCounter(peer, watch_run_ids), stderr_log)
    with stderr_log.open("w") as stderr:
        started = time.monotonic()
        child = spawn(
            command,
            cwd=stderr_log.parent,
            env=peer.env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
        )
        reader = threading.Thread(target=result.output.consume, args=(child.stdout,), daemon=True)
        reader.start()
        sampler = PeakRssSampler(child.pid)
        sampler.start()
        status, usage = wait_with_timeout(child, timeout_secs, result)
        result.wall_secs = time.monotonic() - started
        sampler.stop()
        kill_tree(child)  # anything it left behind in its process group
        reader.join(timeout=30)
    result.exit_code = os.waitstatus_to_exitcode(status)
    result.cpu_secs = usage.ru_utime + usage.ru_stime
    result.peak_rss_mib = sampler.peak_kib / 1024
    return result


def wait_with_timeout(
    child: subprocess.Popen, timeout_secs: float, result: SyncResult
) -> tuple[int, Any]:
    """wait4 (Popen.wait discards the rusage), with a timer that kills the child's process
    group and marks the result timed out."""

    def on_timeout() -> None:
        result.timed_out = True
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)

    timer = threading.Timer(timeout_secs, on_timeout)
    timer.start()
    try:
        _, status, usage = os.wait4(child.pid, 0)
    finally:
        timer.cancel()
    child.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait
    return status, usage


@dataclass
class PreparedSync:
    """A peer configured against one simulator, in one working directory."""

    peer: Peer
    venv: Path
    workdir: Path
    config: Path
    catalog: Path

    def sync(
        self, label: str, state: Any, timeout_secs: float, watch: set[int] = frozenset()
    ) -> SyncResult:
        """One sync from `state` (None: a full sync), run in the working directory; its stderr
        goes to `{label}-stderr.log` there and the state it started from to `{label}-state.json`."""
        state_path = None
        if state is not None:
            state_path = self.workdir / f"{label}-state.json"
            state_path.write_text(json.dumps(state))
        command = self.peer.read_command(self.venv, self.config, self.catalog, state_path)
        stderr_log = self.workdir / f"{label}-stderr.log"
        return run_sync(self.peer, command, stderr_log, timeout_secs, watch)


def discover_catalog(peer: Peer, venv: Path, config: Path, timeout_secs: float) -> Path:
    """Runs the peer's discovery and selects the benchmarked streams, as an operator would
    before the first sync. Not measured: it is a one-off set-up step."""
    workdir = config.parent
    result = subprocess.run(
        peer.discover_command(venv, config),
        cwd=workdir,
        env=peer.env(),
        capture_output=True,
        text=True,
        timeout=timeout_secs,
        check=False,
    )
    (workdir / "discover-stderr.log").write_text(result.stderr)
    if result.returncode != 0:
        raise RuntimeError(
            f"discovery exited with {result.returncode}: {tail(workdir / 'discover-stderr.log', 3)}"
        )
    catalog = workdir.parent / "catalog.json"
    catalog.write_text(json.dumps(peer.build_catalog(result.stdout)))
    return catalog


# --------------------------------------------------------------------------------------------
# The incremental probe: observe, rather than quote, what each peer misses.
# --------------------------------------------------------------------------------------------

PROBE_REPO = f"{OWNER}/repo1"
PROBE_LONG_RUN_SECS = 30


def probe_incremental(
    sim: Simulator, prepared: PreparedSync, first_state: Any, timeout_secs: float
) -> dict[str, Any]:
    """Two incremental syncs after the full one, on the same simulator, in real time:

    sync 2 sees `old` (completed), `long` (still in progress) and `new` (completed, the newest);
    then `old` is re-run and `long` completes; sync 3 shows whether the peer picks up the
    re-run of an older run and the completion of a run created before its newest one. Whether
    `long`'s jobs appear in sync 2 shows if jobs in progress are emitted at all.
    """
    old = sim.create_run(PROBE_REPO, jobs=2, queue_secs=1, run_secs=2)
    time.sleep(4)
    long_done_at = time.monotonic() + 1 + PROBE_LONG_RUN_SECS
    long = sim.create_run(PROBE_REPO, jobs=2, queue_secs=1, run_secs=PROBE_LONG_RUN_SECS)
    time.sleep(1.1)  # created_at has whole seconds: keep `new` strictly newer than `long`
    new = sim.create_run(PROBE_REPO, jobs=2, queue_secs=1, run_secs=1)
    time.sleep(3)
    watch = {old, long, new}
    second = prepared.sync("probe-sync2", first_state, timeout_secs, watch)
    if second.exit_code != 0:
        return {"error": f"incremental sync 2 exited with {second.exit_code}"}
    rerun_attempt = sim.rerun(PROBE_REPO, old)
    rerun_done_at = time.monotonic() + 1 + 2  # queued 1 s, running 2 s, like the first attempt
    time.sleep(max(0.0, max(long_done_at, rerun_done_at) + 2 - time.monotonic()))
    before = sim.stats()
    third = prepared.sync("probe-sync3", second.state, timeout_secs, watch)
    third_stats = stats_delta(before, sim.stats())
    if third.exit_code != 0:
        return {"error": f"incremental sync 3 exited with {third.exit_code}"}

    def runs_seen(sync: SyncResult, run_id: int) -> list[dict[str, Any]]:
        return [r for s, r in sync.output.watched if s == RUNS and r.get("id") == run_id]

    def jobs_seen(sync: SyncResult, run_id: int) -> list[dict[str, Any]]:
        return [r for s, r in sync.output.watched if s == JOBS and r.get("run_id") == run_id]

    for number, sync in ((2, second), (3, third)):
        dump = prepared.workdir / f"probe-sync{number}-watched.jsonl"
        dump.write_text(
            "".join(
                json.dumps({"stream": stream, "record": record}) + "\n"
                for stream, record in sync.output.watched
            )
        )
    jobs_of_old_before = {job.get("id") for job in jobs_seen(second, old)}
    return {
        "run_ids": {"old_rerun": old, "long": long, "new": new},
        "emits_jobs_in_progress": any(
            job.get("status") != "completed" for job in jobs_seen(second, long)
        ),
        "run_in_progress_seen": any(
            run.get("status") != "completed" for run in runs_seen(second, long)
        ),
        "rerun_of_older_run_seen": any(
            run.get("run_attempt") == rerun_attempt for run in runs_seen(third, old)
        )
        or any(job.get("id") not in jobs_of_old_before for job in jobs_seen(third, old)),
        "completion_of_older_run_seen": any(
            run.get("status") == "completed" for run in runs_seen(third, long)
        ),
        "third_sync_requests": third_stats["requests_total"],
        "third_sync_requests_by_route": third_stats["by_route"],
        "third_sync_not_modified": third_stats["not_modified_total"],
        "third_sync_records": dict(third.output.records),
        # Records sync 3 emitted again exactly as sync 2 had: look-back duplicates.
        "third_sync_unchanged_reemitted": len(third.output.digests & second.output.digests),
    }


def stats_delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    by_route = {
        route: count - before["by_route"].get(route, 0)
        for route, count in after["by_route"].items()
    }
    return {
        "requests_total": after["requests_total"] - before["requests_total"],
        "not_modified_total": after["not_modified_total"] - before["not_modified_total"],
        "by_route": {route: count for route, count in by_route.items() if count},
    }


NO_IDEMPOTENCY_KEY = "records carry no idempotency key (event id): a re-emitted record looks new"


def gaps_from_probe(probe: dict[str, Any]) -> list[str]:
    gaps = []
    if not probe.get("rerun_of_older_run_seen", True):
        gaps.append(
            "misses re-runs of older runs (observed: a re-run of a run older than its "
            "newest was never emitted)"
        )
    if not probe.get("completion_of_older_run_seen", True):
        gaps.append(
            "misses the completion of runs created before its newest run (observed: "
            "the run stayed in_progress in its output)"
        )
    if not probe.get("emits_jobs_in_progress", True):
        gaps.append("emits jobs only once completed (observed: jobs in progress dropped)")
    if probe.get("third_sync_requests", 0) and probe.get("third_sync_not_modified") == 0:
        gaps.append(
            "no conditional requests (observed: an incremental sync, one repository "
            f"of the lot changed, cost {probe['third_sync_requests']} requests, "
            "none answered 304)"
        )
    if probe.get("third_sync_unchanged_reemitted"):
        gaps.append(
            f"{NO_IDEMPOTENCY_KEY} (observed: "
            f"{probe['third_sync_unchanged_reemitted']} records of an incremental sync "
            "identical to ones the previous sync emitted)"
        )
    else:
        gaps.append(NO_IDEMPOTENCY_KEY)
    return gaps


def gaps_from_routes(peer: Peer, by_route: dict[str, int]) -> list[str]:
    gaps = []
    if not any(by_route.get(route) for route in peer.log_routes):
        gaps.append("no job logs (never requested /actions/jobs/{job_id}/logs)")
    if not any(by_route.get(route) for route in peer.commit_routes):
        gaps.append("no commit file/line metrics (never requested /commits/{ref})")
    return gaps


PEERS_MD_GAPS = {
    "tap-github": [
        "misses re-runs of older runs and the completion of runs created before "
        "its newest run (created_at bookmark; per PEERS.md, probe not run)",
        "no conditional requests (per PEERS.md, probe not run)",
        NO_IDEMPOTENCY_KEY,
    ],
    "airbyte": [
        "emits jobs only once completed (per PEERS.md, probe not run)",
        "no conditional requests (per PEERS.md, probe not run)",
        NO_IDEMPOTENCY_KEY,
    ],
}


# --------------------------------------------------------------------------------------------
# Orchestration.
# --------------------------------------------------------------------------------------------


@dataclass
class Options:
    binary: Path
    repos: list[str]
    runs_per_repo: int
    venv_dir: Path
    work_dir: Path
    timeout_secs: float
    probe: bool
    peers: list[str]


def measure_history(options: Options) -> dict[str, Any]:
    """The history every peer syncs, counted once on a simulator of its own: the seed makes
    every later simulator generate the same runs and jobs."""
    history: dict[str, Any] = {
        "repositories": len(options.repos),
        "runs_per_repo": options.runs_per_repo,
    }
    options.work_dir.mkdir(parents=True, exist_ok=True)
    sim = Simulator(
        options.binary,
        options.repos,
        options.runs_per_repo,
        options.work_dir / "census-simulator.log",
    )
    try:
        history |= count_history(sim.api_url, options.repos)
    finally:
        sim.close()
    log(f"history: {history['runs']} runs, {history['jobs']} jobs")
    return history


def measure_peer(peer: Peer, options: Options, history: dict[str, Any]) -> list[dict[str, Any]]:
    """Installs the peer and measures each of its variants; returns one report entry per
    variant. Any failure ends up in the entries' `error`, never as an exception."""
    try:
        installation = ensure_installed(peer.package, options.venv_dir / peer.key)
    except (InstallError, OSError, subprocess.SubprocessError) as error:
        log(f"{peer.name}: install failed: {error}")
        return [
            {
                "name": peer.name,
                "version": None,
                "variant": variant.name,
                "error": f"install: {error}",
            }
            for variant in peer.variants()
        ]
    log(
        f"{peer.name} {installation.version} ready"
        + (
            f" (installed in {installation.install_secs:.0f} s)"
            if installation.install_secs
            else " (already installed)"
        )
    )
    bench = PeerBench(peer, installation, options, history)
    return [bench.measure(variant) for variant in peer.variants()]


class PeerBench:
    """Measures the variants of one installed peer. Discovery and the incremental probe run
    once, on the first variant: the variants share the connector's code, so its catalog and
    what it misses are the same."""

    def __init__(
        self, peer: Peer, installation: Installation, options: Options, history: dict[str, Any]
    ):
        self.peer = peer
        self.installation = installation
        self.options = options
        self.history = history
        self.catalog: Path | None = None
        self.probe: dict[str, Any] | None = None

    def measure(self, variant: Variant) -> dict[str, Any]:
        install_secs = self.installation.install_secs
        entry: dict[str, Any] = {
            "name": self.peer.name,
            "version": self.installation.version,
            "install_secs": round(install_secs, 1) if install_secs is not None else None,
            "variant": variant.name,
            "variant_describes": variant.describe,
            "settings": self.peer.settings(),
        }
        label = f"{self.peer.name} ({variant.name})"
        workdir = self.options.work_dir / self.peer.key / variant.name
        shutil.rmtree(workdir, ignore_errors=True)
        workdir.mkdir(parents=True)
        sim = None
        try:
            sim = Simulator(
                self.options.binary,
                self.options.repos,
                self.options.runs_per_repo,
                workdir / "simulator.log",
            )
            prepared = self.prepare(variant, workdir, sim.api_url)
            sim.reset_stats()
            log(f"{label}: full sync of {len(self.options.repos)} repositories")
            full = prepared.sync("full-sync", None, self.options.timeout_secs)
            stats = sim.stats()
            entry |= sync_figures(full, stats)
            if full.timed_out or full.exit_code != 0:
                entry["error"] = (
                    f"timed out after {self.options.timeout_secs:.0f} s"
                    if full.timed_out
                    else f"exited with {full.exit_code}: {tail(full.stderr_log, 3)}"
                )
                return entry
            log(
                f"{label}: {full.wall_secs:.1f} s wall, {full.cpu_secs:.1f} s CPU, "
                f"{full.peak_rss_mib:.0f} MiB, {stats['requests_total']} requests, "
                f"{dict(full.output.records)}"
            )
            if self.options.probe and self.probe is None:
                self.probe = self.run_probe(sim, prepared, full.state)
                entry["probe"] = self.probe
            entry["cannot"] = self.cannot(stats["by_route"], full)
        except Exception as error:  # noqa: BLE001 - one peer's failure must not stop the others
            log(f"{label}: failed: {error}")
            entry["error"] = f"{type(error).__name__}: {error}"
        finally:
            if sim is not None:
                sim.close()
        return entry

    def prepare(self, variant: Variant, workdir: Path, api_url: str) -> PreparedSync:
        venv = self.installation.venv
        config = self.peer.write_config(workdir, api_url, self.options.repos)
        if self.catalog is None:
            self.catalog = discover_catalog(self.peer, venv, config, self.options.timeout_secs)
        variant.prepare_workdir(venv, workdir)
        return PreparedSync(self.peer, venv, workdir, config, self.catalog)

    def run_probe(self, sim: Simulator, prepared: PreparedSync, state: Any) -> dict[str, Any]:
        log(f"{self.peer.name}: incremental probe (about a minute)")
        try:
            return probe_incremental(sim, prepared, state, self.options.timeout_secs)
        except Exception as error:  # noqa: BLE001 - the full sync's figures still stand
            log(f"{self.peer.name}: probe failed: {error}")
            return {"error": f"{type(error).__name__}: {error}"}

    def cannot(self, by_route: dict[str, int], full: SyncResult) -> list[str]:
        """What this peer cannot do that gha-ingest does: observed where the run shows it,
        quoted from PEERS.md where the probe did not run or failed."""
        gaps = gaps_from_routes(self.peer, by_route)
        if self.probe is None or "error" in self.probe:
            gaps += PEERS_MD_GAPS[self.peer.key]
        else:
            gaps += gaps_from_probe(self.probe)
        return gaps + self.peer.known_gaps() + coverage_gaps(full, self.history)


def sync_figures(sync: SyncResult, stats: dict[str, Any]) -> dict[str, Any]:
    return {
        "wall_secs": round(sync.wall_secs, 2),
        "cpu_secs": round(sync.cpu_secs, 2),
        "peak_rss_mib": round(sync.peak_rss_mib, 1),
        "requests": stats["requests_total"],
        "requests_by_route": stats["by_route"],
        "rate_limit_points_used": stats["rate_limit_points_used"],
        "records": {RUNS: sync.output.records[RUNS], JOBS: sync.output.records[JOBS]},
        "distinct_records": {stream: len(ids) for stream, ids in sync.output.distinct_ids.items()},
        "exit_code": sync.exit_code,
        "stderr_log": str(sync.stderr_log),
    }


def coverage_gaps(sync: SyncResult, history: dict[str, int]) -> list[str]:
    gaps = []
    for stream, expected in ((RUNS, history.get("runs")), (JOBS, history.get("jobs"))):
        seen = len(sync.output.distinct_ids[stream])
        if expected is not None and seen < expected:
            gaps.append(f"full sync emitted {seen} of {expected} {stream}")
    return gaps


def parse_args(argv: list[str]) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin", required=True, type=Path, help="the gha-ingest binary")
    parser.add_argument("--repos", type=int, default=5)
    parser.add_argument("--runs", type=int, default=200, help="completed runs per repository")
    parser.add_argument(
        "--peers", default=",".join(PEERS), help=f"comma-separated, from: {', '.join(PEERS)}"
    )
    parser.add_argument("--venv-dir", type=Path, default=DEFAULT_VENV_DIR)
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=DEFAULT_WORK_DIR,
        help="configs, catalogs, states and logs of the last run",
    )
    parser.add_argument("--timeout-secs", type=float, default=900.0, help="per sync")
    parser.add_argument(
        "--no-probe",
        dest="probe",
        action="store_false",
        help="skip the incremental probe; quote PEERS.md instead",
    )
    args = parser.parse_args(argv)
    unknown = [key for key in args.peers.split(",") if key not in PEERS]
    if unknown:
        parser.error(f"unknown peer(s) {', '.join(unknown)}; known: {', '.join(PEERS)}")
    if args.repos < 1 or args.runs < 1:
        parser.error("--repos and --runs must be at least 1")
    if not os.access(args.bin, os.X_OK):
        parser.error(f"--bin {args.bin}: not an executable file")
    return Options(
        args.bin.resolve(),
        [f"{OWNER}/repo{i}" for i in range(1, args.repos + 1)],
        args.runs,
        args.venv_dir.resolve(),
        args.work_dir.resolve(),
        args.timeout_secs,
        args.probe,
        args.peers.split(","),
    )


def main(argv: list[str]) -> int:
    install_exit_handlers()
    options = parse_args(argv)
    entries: list[dict[str, Any]] = []
    try:
        history = measure_history(options)
        for key in options.peers:
            entries += measure_peer(PEERS[key], options, history)
    except Exception as error:  # noqa: BLE001 - whatever broke, the caller gets a report
        # Without a working simulator no peer can be measured: say so in the report.
        log(f"failed: {error}")
        print(json.dumps({"scenario": "peers", "error": str(error), "peers": entries}))
        return 1
    finally:
        kill_all_children()
    report = {
        "scenario": "peers",
        "history": history,
        "peers": entries,
        "work_dir": str(options.work_dir),
        "note": "one sync per peer on a shared machine: indicative figures",
    }
    print(json.dumps(report), flush=True)
    # A report was written, failed peers included: the caller reads `error` from it.
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
