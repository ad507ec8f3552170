// gha-ingest dashboard script, served from /assets/ (the CSP forbids inline script).
// It polls the JSON API with the token typed above (sessionStorage only, never a cookie) and
// builds the DOM with textContent and attributes only, never innerHTML with data.
"use strict";
const REFRESH_MS = 3000;
const PAGE_BYTES = 256 * 1024;
const RUNS_FETCHED = 100;
const TOKEN_KEY = "gha-ingest-token";
const SVG_NS = "http://www.w3.org/2000/svg";
const $ = (id) => document.getElementById(id);

// The token in use changes only when the operator commits it (Enter or leaving the field), so
// a half-typed token is never sent: every wrong token counts against this browser's address.
const tokenInput = $("token");
let activeToken = sessionStorage.getItem(TOKEN_KEY) || "";
tokenInput.value = activeToken;
tokenInput.addEventListener("change", () => {
  activeToken = tokenInput.value.trim();
  sessionStorage.setItem(TOKEN_KEY, activeToken);
  refresh();
});

function authHeaders(extra) {
  const headers = Object.assign({}, extra || {});
  const token = activeToken;
  if (token) headers["Authorization"] = "Bearer " + token;
  return headers;
}

function say(text, isError) {
  const message = $("message");
  message.textContent = text;
  message.style.color = isError ? "#ffb4ab" : "#c9f0d3";
}

class HttpError extends Error {
  constructor(message, status) { super(message); this.status = status; }
}

async function errorOf(response, fallback) {
  let message = fallback + ": " + response.status;
  try { message = (await response.json()).error || message; } catch (_) { /* keep the status */ }
  return new HttpError(message, response.status);
}

async function getJson(path) {
  const response = await fetch(path, { cache: "no-store", headers: authHeaders() });
  if (!response.ok) throw await errorOf(response, path);
  return response.json();
}

async function mutate(method, path, body) {
  const headers = authHeaders({ "Content-Type": "application/json" });
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  let answer = null;
  if (response.status !== 204) { try { answer = await response.json(); } catch (_) { answer = null; } }
  if (!response.ok) throw new Error((answer && answer.error) || (method + " " + path + ": " + response.status));
  return answer;
}

function setField(card, name, value) {
  const element = card.querySelector('[data-field="' + name + '"]');
  if (element) element.textContent = value === null || value === undefined ? "–" : String(value);
}

function ago(seconds) {
  if (seconds === null || seconds === undefined) return "never";
  if (seconds < 120) return seconds + " s ago";
  if (seconds < 7200) return Math.round(seconds / 60) + " min ago";
  return Math.round(seconds / 3600) + " h ago";
}

function span(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  if (seconds < 120) return seconds + " s";
  if (seconds < 7200) return Math.round(seconds / 60) + " min";
  return Math.round(seconds / 3600) + " h";
}

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const s = Math.round(seconds);
  return s < 60 ? s + "s" : Math.floor(s / 60) + "m " + (s % 60) + "s";
}

function bytes(n) {
  if (n < 1024) return n + " B";
  if (n < 1048576) return (n / 1024).toFixed(1) + " KiB";
  return (n / 1048576).toFixed(1) + " MiB";
}

// What a run or job state means to an operator: red for failed, amber while it runs.
const FAILED = new Set(["failure", "timed_out", "startup_failure", "action_required"]);
const RUNNING = new Set(["in_progress", "queued", "waiting", "pending", "requested"]);
function stateClass(state) {
  if (FAILED.has(state)) return "failure";
  if (RUNNING.has(state)) return "progress";
  if (state === "success") return "success";
  return "other";
}

function pill(card, running, present) {
  const element = card.querySelector('[data-field="state"]');
  element.textContent = !present ? "not in this process" : running ? "running" : "stopped";
  element.className = "pill " + (present && running ? "ok" : "bad");
}

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

// Only links to GitHub's own web pages are followed; anything else stays text.
function safeUrl(url) {
  return typeof url === "string" && /^https?:\/\//.test(url) ? url : null;
}

function renderStatus(status) {
  const pipeline = $("pipeline-status");
  const p = status.pipeline;
  pill(pipeline, p && p.running, !!p);
  if (p) {
    setField(pipeline, "last_polled", ago(p.last_cycle_age_secs));
    setField(pipeline, "interval", p.poll_interval_secs + " s");
    setField(pipeline, "cycles", p.cycles_total);
    setField(pipeline, "queued", p.events_queued_total);
    setField(pipeline, "published", p.events_published_total);
    setField(pipeline, "publish_failures", p.publish_failures_total);
    setField(pipeline, "parked", p.messages_parked_total);
    setField(pipeline, "poll_errors", p.repo_poll_errors_total);
    setField(pipeline, "last_error", p.last_error ? "Last error: " + p.last_error : "");
  }
  setField(pipeline, "outbox", status.outbox.metrics + " metrics, " + status.outbox.log_requests + " log requests, " + status.outbox.parked + " parked");
  const failures = status.failures;
  setField(pipeline, "unreadable", failures.retrying + " retrying, " + failures.given_up + " given up");
  $("failures").hidden = failures.recent.length === 0;
  const failureRows = $("failure-rows");
  failureRows.replaceChildren();
  for (const failure of failures.recent) {
    const row = document.createElement("tr");
    cell(row, failure.repo);
    const what = failure.entity === "commit"
      ? "commit " + (failure.commit_sha || "").slice(0, 12)
      : failure.entity + " of run " + failure.run_id + (failure.run_attempt ? " attempt " + failure.run_attempt : "");
    cell(row, what);
    cell(row, failure.reason);
    cell(row, failure.attempts, "num");
    cell(row, failure.given_up_at ? "given up" : "retry at " + failure.next_retry_at);
    failureRows.appendChild(row);
  }
  const rate = status.github.rate_limit;
  setField(pipeline, "rate_limit", rate.remaining === null ? "unknown" : rate.remaining + " / " + rate.limit);
  renderBudget(status.github);
  renderPlan(status.github, status.catchup_pending_repositories);

  const logs = $("log-status");
  const l = status.logs;
  pill(logs, l && l.running, !!l);
  if (l) {
    setField(logs, "logs", l.logs_published_total);
    setField(logs, "messages", l.log_messages_published_total);
    setField(logs, "bytes", bytes(l.log_bytes_published_total));
    setField(logs, "unavailable", l.logs_unavailable_total);
    setField(logs, "failures", l.failures_total);
    setField(logs, "last_error", l.last_error ? "Last error: " + l.last_error : "");
  }

  const rows = $("queue-rows");
  rows.replaceChildren();
  for (const queue of status.queues) {
    const row = document.createElement("tr");
    cell(row, queue.role); cell(row, queue.name);
    cell(row, queue.visible === null ? "?" : queue.visible, "num");
    cell(row, queue.in_flight === null ? "?" : queue.in_flight, "num");
    if (queue.error) row.title = queue.error;
    rows.appendChild(row);
  }
  $("collect-now").disabled = !status.collect_now_available;
}

// Each credential's request plan: what its scheduler admitted by class, and what waits.
function renderPlan(github, catchupPending) {
  const rows = $("plan-rows");
  rows.replaceChildren();
  for (const credential of github.credentials || []) {
    const plan = credential.budget;
    const row = document.createElement("tr");
    cell(row, credential.credential);
    cell(row, plan.points_last_minute + " / " + plan.points_per_minute_ceiling, "num");
    const left = plan.primary.remaining === null ? "?" : plan.primary.remaining;
    cell(row, left + " / " + (plan.reserve_points === null ? "?" : plan.reserve_points), "num");
    for (const admitted of plan.admitted) cell(row, admitted, "num");
    cell(row, plan.waiting.reduce((sum, n) => sum + n, 0), "num");
    rows.appendChild(row);
  }
  const broken = (github.installations || []).filter((installation) => installation.error);
  const notes = [];
  if (catchupPending > 0) notes.push(catchupPending + " repositories still catching up on history (lowest priority, paced to last the hour)");
  for (const installation of broken) notes.push("installation " + installation.id + " (" + installation.account + "): " + installation.error);
  setField($("budget"), "plan_note", notes.join("; "));
}

// The budget over the last hour as an inline SVG line: x is time, y the share left.
function renderBudget(github) {
  const card = $("budget");
  const samples = github.budget_samples || [];
  const rate = github.rate_limit;
  setField(card, "budget_now", rate.remaining === null ? "unknown" : rate.remaining + " / " + rate.limit + " left");
  const chart = $("budget-chart");
  chart.replaceChildren();
  const width = 300, height = 80, hour = 3600 * 1000, now = Date.now();
  const low = document.createElementNS(SVG_NS, "line");
  low.setAttribute("class", "low");
  low.setAttribute("x1", "0"); low.setAttribute("x2", String(width));
  low.setAttribute("y1", String(height * 0.9)); low.setAttribute("y2", String(height * 0.9));
  chart.appendChild(low);
  if (samples.length === 0) {
    setField(card, "budget_note", "No sample yet: the server samples the budget every 30 s.");
    return;
  }
  const points = samples.map((sample) => {
    const x = Math.max(0, width - ((now - Date.parse(sample.at)) / hour) * width);
    const share = sample.limit ? sample.remaining / sample.limit : 1;
    return [x, height - share * height];
  });
  if (points.length === 1) points.unshift([Math.max(0, points[0][0] - 2), points[0][1]]);
  const path = points.map(([x, y]) => x.toFixed(1) + "," + y.toFixed(1)).join(" ");
  const area = document.createElementNS(SVG_NS, "polygon");
  area.setAttribute("class", "area");
  area.setAttribute("points", points[0][0].toFixed(1) + "," + height + " " + path + " " + points[points.length - 1][0].toFixed(1) + "," + height);
  const line = document.createElementNS(SVG_NS, "polyline");
  line.setAttribute("class", "line");
  line.setAttribute("points", path);
  chart.append(area, line);
  const first = samples[0], last = samples[samples.length - 1];
  const spent = first.remaining - last.remaining;
  setField(card, "budget_note", samples.length + " samples; " + (spent >= 0 ? spent + " requests spent" : "window reset") + " since " + new Date(first.at).toLocaleTimeString() + "; dashed line: 10% left");
}

function renderRepositories(answer) {
  const list = $("repo-list");
  list.replaceChildren();
  for (const repo of answer.repositories) {
    const row = document.createElement("tr");
    row.dataset.repository = repo.repository;
    const name = cell(row, "");
    const link = document.createElement("a");
    link.className = "run-link";
    link.href = "https://github.com/" + repo.repository.split("/").map(encodeURIComponent).join("/") + "/actions";
    link.target = "_blank";
    link.rel = "noopener noreferrer";
    link.textContent = repo.repository;
    name.appendChild(link);
    cell(row, ago(repo.last_poll_age_secs));
    const lag = repo.last_poll_ok_at ? Math.max(0, Math.round((Date.now() - Date.parse(repo.last_poll_ok_at)) / 1000)) : null;
    cell(row, lag === null ? "never polled" : span(lag), "num");
    cell(row, repo.consecutive_errors, "num" + (repo.consecutive_errors > 0 ? " status-failure" : ""));
    cell(row, repo.runs_stored, "num");
    cell(row, repo.last_error || "", repo.last_error ? "error" : "muted");
    const actions = cell(row, "");
    const remove = document.createElement("button");
    remove.type = "button";
    remove.textContent = "Remove";
    remove.className = "repo-remove";
    remove.addEventListener("click", async () => {
      try {
        await mutate("DELETE", "/api/repositories/" + repo.repository.split("/").map(encodeURIComponent).join("/"));
        say("Removed " + repo.repository);
        refresh();
      } catch (error) { say(error.message, true); }
    });
    actions.appendChild(remove);
    list.appendChild(row);
  }
}

// Keeps a filter's options in step with the data, and the operator's choice selected.
function fillFilter(select, values) {
  const chosen = select.value;
  const wanted = ["", ...[...values].sort()];
  if (chosen && !wanted.includes(chosen)) wanted.push(chosen);
  const current = [...select.options].map((option) => option.value);
  if (current.join("\u0000") === wanted.join("\u0000")) return;
  select.replaceChildren();
  for (const value of wanted) {
    const option = document.createElement("option");
    option.value = value;
    option.textContent = value === "" ? "all" : value;
    select.appendChild(option);
  }
  select.value = chosen;
}

let lastRuns = [];
function runState(run) { return run.conclusion || run.status; }

function renderRuns() {
  const runs = lastRuns;
  fillFilter($("filter-repo"), new Set(runs.map((run) => run.repository)));
  fillFilter($("filter-workflow"), new Set(runs.map((run) => run.workflow_name || "").filter(Boolean)));
  fillFilter($("filter-status"), new Set(runs.map(runState)));
  const repo = $("filter-repo").value, workflow = $("filter-workflow").value, state = $("filter-status").value;
  const shown = runs.filter((run) =>
    (!repo || run.repository === repo) && (!workflow || run.workflow_name === workflow) && (!state || runState(run) === state));
  $("runs-shown").textContent = shown.length + " of " + runs.length + " runs";
  const body = $("runs-table").querySelector("tbody");
  body.replaceChildren();
  for (const run of shown) {
    const row = document.createElement("tr");
    row.dataset.runId = run.run_id;
    row.dataset.repository = run.repository;
    row.className = "run-" + stateClass(runState(run));
    cell(row, run.repository);
    const runCell = cell(row, "");
    const label = "#" + (run.run_number ?? run.run_id) + (run.run_attempt > 1 ? " (attempt " + run.run_attempt + ")" : "");
    const url = safeUrl(run.html_url);
    if (url) {
      const link = document.createElement("a");
      link.className = "run-link";
      link.href = url;
      link.target = "_blank";
      link.rel = "noopener noreferrer";
      link.textContent = label;
      runCell.appendChild(link);
    } else {
      runCell.textContent = label;
    }
    runCell.title = run.display_title || "";
    cell(row, run.workflow_name || "");
    cell(row, runState(run), "status status-" + stateClass(runState(run)));
    cell(row, new Date(run.created_at).toLocaleString());
    cell(row, duration(run.duration_seconds), "num");
    const jobsCell = cell(row, "");
    const jobs = document.createElement("ul");
    jobs.className = "jobs";
    for (const job of run.jobs) {
      const item = document.createElement("li");
      const link = document.createElement("a");
      link.className = "job";
      link.dataset.jobId = job.job_id;
      link.textContent = job.job_name || ("job " + job.job_id);
      link.addEventListener("click", () => openLog(run, job));
      const jobState = document.createElement("span");
      jobState.className = "status status-" + stateClass(job.conclusion || job.status);
      jobState.textContent = (job.conclusion || job.status) + ", " + duration(job.duration_seconds);
      item.append(link, jobState);
      jobs.appendChild(item);
    }
    jobsCell.appendChild(jobs);
    body.appendChild(row);
  }
}
for (const id of ["filter-repo", "filter-workflow", "filter-status"]) $(id).addEventListener("change", renderRuns);

// ANSI escape sequences (colours, cursor moves) and GitHub's timestamps stay readable as text.
const ANSI = /\u001b\[[0-9;?]*[ -\/]*[@-~]|\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)|\u001b[@-Z\\-_]/g;
const stripAnsi = (text) => text.replace(ANSI, "");

const viewer = { run: null, job: null, offset: 0 };

async function fetchLogPage(query) {
  const path = "/api/runs/" + viewer.run.run_id + "/jobs/" + viewer.job.job_id + "/log?" + query;
  const response = await fetch(path, { cache: "no-store", headers: authHeaders() });
  if (!response.ok) {
    const error = await errorOf(response, "log");
    const wait = response.headers.get("retry-after");
    if (wait) error.message += " (retry in " + wait + " s)";
    throw error;
  }
  return {
    text: stripAnsi(await response.text()),
    offset: Number(response.headers.get("x-log-offset") || 0),
    total: Number(response.headers.get("x-log-total-bytes") || 0),
  };
}

function updateLogTitle(total) {
  $("log-title").textContent = viewer.run.repository + " run " + viewer.run.run_id + " · " +
    (viewer.job.job_name || viewer.job.job_id) + " · showing " + bytes(total - viewer.offset) + " of " + bytes(total);
  $("log-more").disabled = viewer.offset === 0;
}

async function openLog(run, job) {
  Object.assign(viewer, { run, job, offset: 0 });
  $("log-viewer").hidden = false;
  $("log-text").textContent = "Loading…";
  $("log-title").textContent = run.repository + " run " + run.run_id + " · " + (job.job_name || job.job_id);
  try {
    const page = await fetchLogPage("tail_bytes=" + PAGE_BYTES);
    viewer.offset = page.offset;
    $("log-text").textContent = page.text;
    updateLogTitle(page.total);
    const pre = $("log-text");
    pre.scrollTop = pre.scrollHeight;
  } catch (error) { $("log-text").textContent = error.message; $("log-more").disabled = true; }
}

$("log-more").addEventListener("click", async () => {
  if (viewer.offset === 0) return;
  const start = Math.max(0, viewer.offset - PAGE_BYTES);
  try {
    const page = await fetchLogPage("offset=" + start + "&length=" + (viewer.offset - start));
    viewer.offset = page.offset;
    const pre = $("log-text");
    const fromBottom = pre.scrollHeight - pre.scrollTop;
    pre.textContent = page.text + pre.textContent;
    pre.scrollTop = pre.scrollHeight - fromBottom;
    updateLogTitle(page.total);
  } catch (error) { say(error.message, true); }
});
$("log-close").addEventListener("click", () => { $("log-viewer").hidden = true; });
document.addEventListener("keydown", (event) => { if (event.key === "Escape") $("log-viewer").hidden = true; });

$("repo-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const repository = $("repo-input").value.trim();
  if (!repository) return;
  try {
    const answer = await mutate("POST", "/api/repositories", { repository });
    say(answer.added ? "Added " + answer.repository : answer.repository + " was already configured");
    $("repo-input").value = "";
    refresh();
  } catch (error) { say(error.message, true); }
});

$("collect-now").addEventListener("click", async () => {
  try {
    await mutate("POST", "/api/collect");
    say("Collection triggered");
    setTimeout(refresh, 1000);
  } catch (error) { say(error.message, true); }
});

let refreshing = false;
async function refresh() {
  if (refreshing) return;
  refreshing = true;
  try {
    const [status, repositories, runs] = await Promise.all([
      getJson("/api/status"), getJson("/api/repositories"), getJson("/api/runs?limit=" + RUNS_FETCHED),
    ]);
    $("token-needed").hidden = true;
    renderStatus(status);
    renderRepositories(repositories);
    lastRuns = runs.runs;
    renderRuns();
  } catch (error) {
    if (error.status === 401 || error.status === 403) {
      $("token-needed").hidden = false;
      say(error.status === 401 ? "Enter the read token" : error.message, true);
    } else {
      say("Cannot reach the daemon: " + error.message, true);
    }
  } finally {
    refreshing = false;
  }
}
refresh();
setInterval(refresh, REFRESH_MS);
