#!/usr/bin/env bash
# Checks deploy/cloudformation/gha-ingest.yaml the way it will be used:
#   1. cfn-lint, clean;
#   2. static checks cfn-lint cannot know: every queue encrypted, every dead-letter queue kept 14
#      days and redrivable only from its source, and the policies granting exactly the SQS actions
#      that crates/gha-ingest-queue/src/sqs.rs calls;
#   3. a deploy into moto's CloudFormation with the log agent's settings read from
#      config/default.toml, then the queues' attributes (redrive above logs.max_attempts,
#      visibility, retention, size, SSE) and each agent's grants, queue by queue; a second stack
#      with a customer-managed KMS key checks the SSE-KMS variant;
#   4. the daemon (both agents) against the queues of the first stack, configured with the stack's
#      output URLs, polling the GitHub simulator, until run and job events are on the metrics queue
#      and a job log on the logs queue, every message valid against docs/schema/; then SIGTERM,
#      which must exit 0, and nothing may have reached a dead-letter queue.
# Usage: scripts/deploy-checks/cloudformation.sh   (GHA_INGEST_BIN: the daemon, default
# target/debug/gha-ingest). Installs cfn-lint, moto and jsonschema into .venv when missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
TEMPLATE=$ROOT/deploy/cloudformation/gha-ingest.yaml
PY=$ROOT/.venv/bin/python
TOKEN=cloudformation-check-token
REPO=acme/webapp
# Enough to be sure the stream flows; the simulator's 3 runs produce several times this many.
MIN_METRICS_EVENTS=10
DEADLINE_SECS=120

fail() {
  echo "error: $*" >&2
  exit 1
}

BIN=${GHA_INGEST_BIN:-target/debug/gha-ingest}
[ -x "$BIN" ] || fail "daemon binary $BIN not found: build it (cargo build -p gha-ingest) or set GHA_INGEST_BIN"
BIN=$(realpath "$BIN") # the daemon runs in its own working directory

# --- tools ------------------------------------------------------------------------------------
[ -x "$PY" ] || python3 -m venv "$ROOT/.venv"
wanted=()
"$ROOT/.venv/bin/cfn-lint" --version 2>/dev/null | grep -q '^cfn-lint 1\.' || wanted+=('cfn-lint==1.*')
[ -x "$ROOT/.venv/bin/moto_server" ] || wanted+=('moto[server]==5.2.*')
"$PY" -c 'import jsonschema, referencing' 2>/dev/null || wanted+=('jsonschema>=4.18')
if [ ${#wanted[@]} -gt 0 ]; then
  echo "==> installing ${wanted[*]} into .venv"
  "$ROOT/.venv/bin/pip" install --quiet --disable-pip-version-check "${wanted[@]}"
fi

# --- processes and files of this run, always cleaned up ---------------------------------------
WORK=$(mktemp -d)
MOTO_PID=''
SIM_PID=''
DAEMON_PID=''
# On failure, show what the processes said before their files are removed.
cleanup() {
  local status=$? pid file
  # Output may have nowhere to go any more (a closed pipe): the cleanup still has to happen.
  set +e
  trap '' PIPE
  for pid in "$DAEMON_PID" "$SIM_PID" "$MOTO_PID"; do
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  if [ "$status" -ne 0 ]; then
    for file in "$WORK"/*.log; do
      [ -s "$file" ] || continue
      echo "--- last lines of $(basename "$file")" >&2
      # Not moto's access log: one line per request.
      grep -v ' HTTP/1.1" [0-9]' "$file" | tail -n 20 >&2 || true
    done
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
# Killed (Ctrl-C, a CI timeout, a closed pipe): exit, so that the cleanup above runs.
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 141' PIPE

free_port() {
  "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# The checks themselves, in Python: cfn-lint's template parser, boto3 (moto's dependency) and
# jsonschema. Each subcommand prints its figures or fails with one line saying what is wrong.
cat >"$WORK/check.py" <<'PYTHON'
"""Checks of deploy/cloudformation/gha-ingest.yaml; see scripts/deploy-checks/cloudformation.sh."""
import json
import re
import sys
import time
import tomllib
from pathlib import Path

ROOT = Path.cwd()
TEMPLATE = ROOT / "deploy/cloudformation/gha-ingest.yaml"
SQS_SOURCE = ROOT / "crates/gha-ingest-queue/src/sqs.rs"
SCHEMAS = ROOT / "docs/schema"
FOURTEEN_DAYS = 14 * 86400
KMS_SID = "UseQueueKeyThroughSqs"
# SDK operations sqs.rs calls that no agent needs in production: SqsQueue::ensure_queue, used by
# the demo and the tests, creates queues; with this template, CloudFormation does.
NOT_GRANTED_OPERATIONS = {"CreateQueue"}
# Batch operations are authorised by the single action's permission.
IAM_ACTION_OF = {
    "SendMessageBatch": "SendMessage",
    "DeleteMessageBatch": "DeleteMessage",
    "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
}
WATCH = {"sqs:GetQueueUrl", "sqs:GetQueueAttributes"}
# What each agent may do, queue by queue (queue keys are the names without the prefix).
EXPECTED_GRANTS = {
    "PipelineAgentPolicyArn": {
        "metrics": {"sqs:SendMessage"} | WATCH,
        "log-requests": {"sqs:SendMessage"} | WATCH,
        "metrics-dlq": WATCH,
        "log-requests-dlq": WATCH,
    },
    "LogAgentPolicyArn": {
        "log-requests": {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"} | WATCH,
        "logs": {"sqs:SendMessage"} | WATCH,
        "log-requests-dlq": WATCH,
        "logs-dlq": WATCH,
    },
}


def fail(message):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)


def daemon_defaults():
    with open(ROOT / "config/default.toml", "rb") as file:
        return tomllib.load(file)


def clients(endpoint, *names):
    import boto3

    options = dict(endpoint_url=endpoint, region_name="us-east-1",
                   aws_access_key_id="testing", aws_secret_access_key="testing")
    return [boto3.client(name, **options) for name in names]


def pascal(snake):
    return "".join(part.capitalize() for part in snake.split("_"))


def static():
    from cfnlint.decode import decode

    template, errors = decode(str(TEMPLATE))
    check(not errors, f"cannot parse the template: {errors}")
    resources = template["Resources"]
    queues = {name: r["Properties"] for name, r in resources.items() if r["Type"] == "AWS::SQS::Queue"}
    check(len(queues) == 6, f"expected 3 queues and 3 dead-letter queues, found {sorted(queues)}")
    dead_letter = {}
    for name, properties in queues.items():
        check("SqsManagedSseEnabled" in properties and "KmsMasterKeyId" in properties,
              f"{name}: no server-side encryption (SqsManagedSseEnabled / KmsMasterKeyId)")
        check(resources[name].get("DeletionPolicy") == "Retain",
              f"{name}: deleting the stack would delete the queue and its messages (DeletionPolicy)")
        redrive = properties.get("RedrivePolicy")
        if redrive:
            target = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]
            dead_letter[target] = name
    check(len(dead_letter) == 3, f"expected 3 queues with a RedrivePolicy, found {sorted(dead_letter.values())}")
    for dlq, source in dead_letter.items():
        properties = queues[dlq]
        check("RedrivePolicy" not in properties, f"{dlq}: a dead-letter queue must not redrive further")
        check(properties.get("MessageRetentionPeriod") == FOURTEEN_DAYS,
              f"{dlq}: dead-letter retention must be {FOURTEEN_DAYS} s (14 days)")
        allow = properties.get("RedriveAllowPolicy") or {}
        check(allow.get("redrivePermission") == "byQueue" and len(allow.get("sourceQueueArns", [])) == 1,
              f"{dlq}: RedriveAllowPolicy must allow its source queue ({source}) only")

    # The tables that stand in for arithmetic: a key for every value the parameter allows, and
    # the values the template's comments promise, for every key (not only the defaults).
    parameters = template["Parameters"]
    mappings = template["Mappings"]
    for mapping, parameter in (("RetentionSeconds", "RetentionDays"), ("LogRequestsRedrive", "LogMaxAttempts")):
        allowed = set(parameters[parameter]["AllowedValues"])
        check(set(mappings[mapping]) == allowed,
              f"Mappings.{mapping} has keys {sorted(mappings[mapping], key=int)}, "
              f"{parameter} allows {sorted(allowed, key=int)}")
    for days, row in mappings["RetentionSeconds"].items():
        check(row["Seconds"] == int(days) * 86400, f"RetentionSeconds[{days}] is {row['Seconds']}")
    for attempts, row in mappings["LogRequestsRedrive"].items():
        check(row["MaxReceiveCount"] > int(attempts),
              f"LogRequestsRedrive[{attempts}]: maxReceiveCount {row['MaxReceiveCount']} is not above "
              f"logs.max_attempts {attempts}")

    # Each policy's statements are written once with the KMS statement and once without
    # (see the template): the two lists must not drift apart.
    granted = set()
    for name, resource in resources.items():
        if resource["Type"] != "AWS::IAM::ManagedPolicy":
            continue
        condition, with_key, without_key = resource["Properties"]["PolicyDocument"]["Statement"]["Fn::If"]
        check(condition == "UseCustomerKey", f"{name}: statements chosen by {condition}")
        check([s for s in with_key if s.get("Sid") != KMS_SID] == without_key,
              f"{name}: the statements with and without a KMS key differ beyond {KMS_SID}")
        check(len(with_key) == len(without_key) + 1, f"{name}: no {KMS_SID} statement for a KMS key")
        for statement in without_key:
            actions = statement["Action"]
            granted |= set([actions] if isinstance(actions, str) else actions)

    # The daemon's SQS calls, read from its source, against what the policies grant together.
    source = SQS_SOURCE.read_text()
    operations = {pascal(op) for op in re.findall(r"client\s*\.\s*([a-z_]+)\(\)", source)}
    check(operations, f"no SQS calls found in {SQS_SOURCE}: has the code moved?")
    used = {"sqs:" + IAM_ACTION_OF.get(op, op) for op in operations - NOT_GRANTED_OPERATIONS}
    check(granted == used,
          f"policies grant {sorted(granted)} but the daemon calls {sorted(used)} "
          f"(missing: {sorted(used - granted)}, unused: {sorted(granted - used)})")
    print(f"    queues encrypted: 6/6; dead-letter queues: {len(dead_letter)}; "
          f"SQS calls in sqs.rs: {', '.join(sorted(operations))}; granted: {', '.join(sorted(granted))}")


def deploy(endpoint, stack, out, *parameters):
    cloudformation, = clients(endpoint, "cloudformation")
    given = [dict(zip(("ParameterKey", "ParameterValue"), p.split("=", 1))) for p in parameters]
    started = time.monotonic()
    try:
        cloudformation.create_stack(StackName=stack, TemplateBody=TEMPLATE.read_text(),
                                    Parameters=given, Capabilities=["CAPABILITY_IAM"])
        cloudformation.get_waiter("stack_create_complete").wait(
            StackName=stack, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    except Exception as error:  # botocore's ClientError and WaiterError: the message says it all
        fail(f"creating stack {stack}: {error}")
    seconds = time.monotonic() - started
    description = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in description.get("Outputs", [])}
    expected = {"MetricsQueueUrl", "LogRequestsQueueUrl", "LogsQueueUrl",
                "MetricsDeadLetterQueueUrl", "LogRequestsDeadLetterQueueUrl", "LogsDeadLetterQueueUrl",
                "MetricsDeadLetterQueueArn", "LogRequestsDeadLetterQueueArn", "LogsDeadLetterQueueArn",
                "PipelineAgentPolicyArn", "LogAgentPolicyArn"}
    check(set(outputs) == expected, f"stack outputs {sorted(outputs)}, expected {sorted(expected)}")
    Path(out).write_text(json.dumps(outputs, indent=1))
    print(f"    stack {stack}: {description['StackStatus']} in {seconds:.1f} s, {len(outputs)} outputs")


def policy_document(iam, arn):
    policy = iam.get_policy(PolicyArn=arn)["Policy"]
    version = iam.get_policy_version(PolicyArn=arn, VersionId=policy["DefaultVersionId"])
    document = version["PolicyVersion"]["Document"]
    return json.loads(document) if isinstance(document, str) else document


def grants(document, queue_arns):
    """{queue: {actions}} for the SQS statements; fails on anything not aimed at one queue."""
    by_queue = {}
    for statement in document["Statement"]:
        if statement.get("Sid") == KMS_SID:
            continue
        check(statement["Effect"] == "Allow" and "Condition" not in statement,
              f"unexpected statement {statement}")
        actions = statement["Action"]
        resources = statement["Resource"]
        for action in [actions] if isinstance(actions, str) else actions:
            check("*" not in action, f"wildcard action {action}")
            for resource in [resources] if isinstance(resources, str) else resources:
                check(resource in queue_arns, f"{action} granted on {resource}, which is none of the queues")
                by_queue.setdefault(queue_arns[resource], set()).add(action)
    return by_queue


def check_stack(endpoint, outputs_file, prefix, kms_key_arn=""):
    sqs, iam = clients(endpoint, "sqs", "iam")
    outputs = json.loads(Path(outputs_file).read_text())
    defaults = daemon_defaults()
    max_attempts = defaults["logs"]["max_attempts"]
    visibility = defaults["logs"]["request_visibility_timeout_secs"]
    max_message_bytes = defaults["queue"]["max_message_bytes"]

    urls = {"metrics": outputs["MetricsQueueUrl"], "log-requests": outputs["LogRequestsQueueUrl"],
            "logs": outputs["LogsQueueUrl"], "metrics-dlq": outputs["MetricsDeadLetterQueueUrl"],
            "log-requests-dlq": outputs["LogRequestsDeadLetterQueueUrl"],
            "logs-dlq": outputs["LogsDeadLetterQueueUrl"]}
    attributes = {q: sqs.get_queue_attributes(QueueUrl=u, AttributeNames=["All"])["Attributes"]
                  for q, u in urls.items()}
    arns = {a["QueueArn"]: q for q, a in attributes.items()}
    for queue, attrs in attributes.items():
        check(attrs["QueueArn"].endswith(f":{prefix}-{queue}"), f"{queue}: named {attrs['QueueArn']}")
        check(int(attrs["MaximumMessageSize"]) >= max_message_bytes,
              f"{queue}: MaximumMessageSize {attrs['MaximumMessageSize']} < queue.max_message_bytes {max_message_bytes}")
        check(int(attrs["MessageRetentionPeriod"]) == FOURTEEN_DAYS,
              f"{queue}: retention {attrs['MessageRetentionPeriod']} s, expected {FOURTEEN_DAYS}")
        if kms_key_arn:
            check(attrs.get("KmsMasterKeyId") == kms_key_arn, f"{queue}: not encrypted with {kms_key_arn}")
        else:
            check(attrs.get("SqsManagedSseEnabled") == "true", f"{queue}: SqsManagedSseEnabled is not true")
        if queue.endswith("-dlq"):
            check("RedrivePolicy" not in attrs, f"{queue}: a dead-letter queue with a RedrivePolicy")
            continue
        redrive = json.loads(attrs["RedrivePolicy"])
        check(arns.get(redrive["deadLetterTargetArn"]) == f"{queue}-dlq",
              f"{queue}: redrives to {redrive['deadLetterTargetArn']}, not to {queue}-dlq")
        if queue == "log-requests":
            receives = int(redrive["maxReceiveCount"])
            check(receives > max_attempts,
                  f"log-requests: maxReceiveCount {receives} must be above logs.max_attempts {max_attempts}, "
                  "or requests reach the dead-letter queue before the log agent gives their log up")
            check(int(attrs["VisibilityTimeout"]) == visibility,
                  f"log-requests: VisibilityTimeout {attrs['VisibilityTimeout']} s, "
                  f"logs.request_visibility_timeout_secs is {visibility}")
    print(f"    {prefix}: 6 queues; log-requests maxReceiveCount "
          f"{json.loads(attributes['log-requests']['RedrivePolicy'])['maxReceiveCount']} > max_attempts {max_attempts}, "
          f"visibility {attributes['log-requests']['VisibilityTimeout']} s; retention 14 d; "
          + (f"SSE-KMS {kms_key_arn.rsplit('/', 1)[-1]}" if kms_key_arn else "SSE-SQS"))

    queue_arns = {a["QueueArn"]: q for q, a in attributes.items()}
    for output, expected in EXPECTED_GRANTS.items():
        document = policy_document(iam, outputs[output])
        actual = grants(document, queue_arns)
        check(actual == expected, f"{output} grants {actual}, expected {expected}")
        key_statements = [s for s in document["Statement"] if s.get("Sid") == KMS_SID]
        if kms_key_arn:
            check(len(key_statements) == 1 and key_statements[0]["Resource"] == kms_key_arn
                  and set(key_statements[0]["Action"]) == {"kms:GenerateDataKey", "kms:Decrypt"}
                  and key_statements[0]["Condition"]["StringEquals"]["kms:ViaService"] == "sqs.us-east-1.amazonaws.com",
                  f"{output}: no or a wrong {KMS_SID} statement: {key_statements}")
        else:
            check(not key_statements, f"{output}: a KMS statement without a KMS key")
    print(f"    {prefix}: each agent's policy grants exactly its queues' actions"
          + (" and the key through SQS" if kms_key_arn else ""))


def daemon_settings():
    logs = daemon_defaults()["logs"]
    print(logs["max_attempts"], logs["request_visibility_timeout_secs"])


def create_key(endpoint):
    kms, = clients(endpoint, "kms")
    print(kms.create_key(Description="gha-ingest cloudformation check")["KeyMetadata"]["Arn"])


def schema_validators():
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource

    documents = [json.loads(p.read_text()) for p in SCHEMAS.glob("*.schema.json")]
    registry = Registry().with_resources(
        (d["$id"], Resource.from_contents(d)) for d in documents)
    by_file = {d["$id"].rsplit("/", 1)[-1]: Draft202012Validator(d, registry=registry) for d in documents}

    def validator_for(event_type):
        if event_type.endswith("_unavailable") and event_type != "job_log_unavailable":
            return by_file["entity_unavailable.schema.json"]
        for family in ("workflow_run", "workflow_job"):
            if event_type.startswith(family + "_"):
                return by_file[f"{family}.schema.json"]
        return by_file[f"{event_type}.schema.json"]

    return validator_for


def consume(endpoint, outputs_file, min_events, deadline_secs):
    """Reads the metrics and logs queues like a downstream consumer until both carry the stream."""
    sqs, = clients(endpoint, "sqs")
    outputs = json.loads(Path(outputs_file).read_text())
    validator_for = schema_validators()
    seen = {"metrics": {}, "logs": {}}
    deadline = time.monotonic() + float(deadline_secs)

    def done():
        types = seen["metrics"].values()
        return (len(seen["metrics"]) >= int(min_events)
                and any(t.startswith("workflow_run_") for t in types)
                and "workflow_job_completed" in types
                and "job_log_fetched" in seen["logs"].values())

    while not done():
        check(time.monotonic() < deadline,
              f"after {deadline_secs} s: {len(seen['metrics'])} events on the metrics queue "
              f"({sorted(set(seen['metrics'].values()))}), logs queue: {sorted(set(seen['logs'].values()))}; "
              f"expected at least {min_events} events with run and job-completed ones, and a job_log_fetched")
        for queue, url in (("metrics", outputs["MetricsQueueUrl"]), ("logs", outputs["LogsQueueUrl"])):
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                           MessageAttributeNames=["All"]).get("Messages", [])
            for message in messages:
                event = json.loads(message["Body"])
                event_type = event.get("event_type", "")
                errors = sorted(validator_for(event_type).iter_errors(event), key=str)
                check(not errors, f"{queue} queue: {event.get('event_id')} does not match its schema: {errors[0].message if errors else ''}")
                attribute = message.get("MessageAttributes", {}).get("event_type", {}).get("StringValue")
                check(attribute == event_type, f"{queue} queue: attribute event_type {attribute!r} for a {event_type}")
                check((event_type in ("job_log_fetched", "job_log_unavailable")) == (queue == "logs"),
                      f"{event_type} on the {queue} queue")
                # At-least-once: a duplicate is legal, counted once, as a consumer would.
                seen[queue][event["event_id"]] = event_type
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    print(f"    metrics queue: {len(seen['metrics'])} events ({', '.join(sorted(set(seen['metrics'].values())))}); "
          f"logs queue: {sum(t == 'job_log_fetched' for t in seen['logs'].values())} job_log_fetched, "
          f"{sum(t == 'job_log_unavailable' for t in seen['logs'].values())} job_log_unavailable; all valid")


def dead_letters_empty(endpoint, outputs_file):
    sqs, = clients(endpoint, "sqs")
    outputs = json.loads(Path(outputs_file).read_text())
    for name in ("Metrics", "LogRequests", "Logs"):
        attrs = sqs.get_queue_attributes(
            QueueUrl=outputs[f"{name}DeadLetterQueueUrl"],
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        count = int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])
        check(count == 0, f"{name} dead-letter queue holds {count} messages")
    print("    dead-letter queues: empty")


if __name__ == "__main__":
    command, *arguments = sys.argv[1:]
    {"static": static, "deploy": deploy, "check-stack": check_stack, "create-key": create_key, "daemon-settings": daemon_settings,
     "consume": consume, "dead-letters-empty": dead_letters_empty}[command](*arguments)
PYTHON
check() { "$PY" "$WORK/check.py" "$@"; }

# --- 1. lint and static checks ----------------------------------------------------------------
echo "==> cfn-lint $TEMPLATE"
"$ROOT/.venv/bin/cfn-lint" --version
# Informational findings too: e.g. I3011, a stateful resource without an explicit DeletionPolicy.
"$ROOT/.venv/bin/cfn-lint" --include-checks I -- "$TEMPLATE" || fail "cfn-lint found problems in the template"
echo "==> static checks: encryption, dead-letter queues, policies against the daemon's SQS calls"
check static

# --- 2. deploy into moto ----------------------------------------------------------------------
MOTO_PORT=$(free_port)
ENDPOINT=http://127.0.0.1:$MOTO_PORT
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost
# moto takes any key; a profile or session token from the caller's shell must not leak in.
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN
echo "==> starting moto on $ENDPOINT"
"$ROOT/.venv/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT" >"$WORK/moto.log" 2>&1 &
MOTO_PID=$!
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$MOTO_PORT") 2>/dev/null && break
  kill -0 "$MOTO_PID" 2>/dev/null || fail "moto exited: $(tail -n 5 "$WORK/moto.log")"
  sleep 0.1
done

# The stack gets the log agent's settings from the daemon's defaults, as an operator would pass
# their own configuration's.
settings=$(check daemon-settings)
read -r MAX_ATTEMPTS VISIBILITY <<<"$settings"
echo "==> deploying the stack into moto (LogMaxAttempts=$MAX_ATTEMPTS, LogRequestVisibilityTimeoutSecs=$VISIBILITY)"
check deploy "$ENDPOINT" gha-ingest "$WORK/outputs.json" \
  "LogMaxAttempts=$MAX_ATTEMPTS" "LogRequestVisibilityTimeoutSecs=$VISIBILITY"
echo "==> checking the queues and policies it created"
check check-stack "$ENDPOINT" "$WORK/outputs.json" gha-ingest

echo "==> deploying a second stack with a customer-managed KMS key"
KEY_ARN=$(check create-key "$ENDPOINT")
check deploy "$ENDPOINT" gha-ingest-cmk "$WORK/outputs-cmk.json" \
  NamePrefix=gha-ingest-cmk "KmsKeyArn=$KEY_ARN" \
  "LogMaxAttempts=$MAX_ATTEMPTS" "LogRequestVisibilityTimeoutSecs=$VISIBILITY"
check check-stack "$ENDPOINT" "$WORK/outputs-cmk.json" gha-ingest-cmk "$KEY_ARN"

# --- 3. the daemon against the stack's queues -------------------------------------------------
echo "==> starting the GitHub simulator"
"$BIN" sim --repo "$REPO" --history 3 --new-run-every-secs 5 --token "$TOKEN" \
  >"$WORK/sim.out" 2>"$WORK/sim.log" &
SIM_PID=$!
for _ in $(seq 100); do
  [ -s "$WORK/sim.out" ] && break
  kill -0 "$SIM_PID" 2>/dev/null || fail "the simulator exited"
  sleep 0.1
done
API_URL=$("$PY" -c 'import json, sys; print(json.loads(open(sys.argv[1]).readline())["api_url"])' "$WORK/sim.out")
output() { "$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$WORK/outputs.json" "$1"; }
METRICS_URL=$(output MetricsQueueUrl)
LOG_REQUESTS_URL=$(output LogRequestsQueueUrl)
LOGS_URL=$(output LogsQueueUrl)

echo "==> running the daemon against the stack's queue URLs (${METRICS_URL%/*}/...)"
mkdir -p "$WORK/daemon"
(
  cd "$WORK/daemon"
  exec env \
    GITHUB_API_URL="$API_URL" GITHUB_TOKEN="$TOKEN" \
    GHA_INGEST__PIPELINE__REPOSITORIES="$REPO" \
    GHA_INGEST__PIPELINE__POLL_INTERVAL_SECS=2 \
    GHA_INGEST__QUEUE__BACKEND=sqs \
    GHA_INGEST__QUEUE__SQS__ENDPOINT_URL="$ENDPOINT" \
    GHA_INGEST__QUEUE__METRICS_QUEUE="$METRICS_URL" \
    GHA_INGEST__QUEUE__LOG_REQUESTS_QUEUE="$LOG_REQUESTS_URL" \
    GHA_INGEST__QUEUE__LOGS_QUEUE="$LOGS_URL" \
    GHA_INGEST__HTTP__LISTEN=127.0.0.1:0 \
    AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
    "$BIN" run
) >"$WORK/daemon.log" 2>&1 &
DAEMON_PID=$!

echo "==> reading the metrics and logs queues as a downstream consumer would"
started=$SECONDS
check consume "$ENDPOINT" "$WORK/outputs.json" "$MIN_METRICS_EVENTS" "$DEADLINE_SECS"
echo "    stream complete after $((SECONDS - started)) s"
kill -0 "$DAEMON_PID" 2>/dev/null || fail "the daemon exited early"

echo "==> stopping the daemon with SIGTERM"
kill -TERM "$DAEMON_PID"
stop_started=$SECONDS
# A daemon that has not stopped after 40 s is killed, which then fails below.
for _ in $(seq 400); do
  kill -0 "$DAEMON_PID" 2>/dev/null || break
  sleep 0.1
done
kill -KILL "$DAEMON_PID" 2>/dev/null || true
status=0
wait "$DAEMON_PID" || status=$?
DAEMON_PID=''
[ "$status" -eq 0 ] || fail "the daemon exited with status $status after SIGTERM"
echo "    exited 0 in $((SECONDS - stop_started)) s"
warnings=$(grep -c '"level":"WARN"' "$WORK/daemon.log" || true)
errors=$(grep -c '"level":"ERROR"' "$WORK/daemon.log" || true)
echo "    daemon log: $errors errors, $warnings warnings"
[ "$errors" -eq 0 ] || fail "the daemon logged $errors errors: $(grep '"level":"ERROR"' "$WORK/daemon.log" | head -n 3)"
check dead-letters-empty "$ENDPOINT" "$WORK/outputs.json"

echo "==> cloudformation: template, deploy and daemon checks passed"
