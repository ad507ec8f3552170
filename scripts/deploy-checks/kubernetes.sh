#!/usr/bin/env bash
# Checks deploy/kubernetes, offline:
# - the kustomization renders (`kubectl kustomize`, when kubectl is there), lists every manifest
#   and every file it names exists;
# - every object, as written and as rendered, validates strictly (unknown fields are errors)
#   against the Kubernetes OpenAPI schemas of KUBE_VERSIONS (PyPI kubernetes-validate, which
#   ships them); the ServiceMonitor against prometheus-operator's CRD, as generated into PyPI
#   cloudcoil-models-prometheus-operator, with unknown fields refused as well. Python's sockets
#   are disabled while this runs: nothing is fetched;
# - what the schemas cannot see: the restricted Pod Security profile, probes on /healthz and
#   /readyz, scrape annotations, selectors that match (Services, ServiceMonitor, PDBs), Secret and
#   ConfigMap references, replicas = shard_count, terminationGracePeriodSeconds above
#   daemon.shutdown_grace_secs, every written path on a volume, spool sizes within the emptyDir;
# - the daemon accepts the ConfigMap's file with each pod's environment (`check-config`, once per
#   shard, and refuses a pod beyond shard_count);
# - the daemon started with each workload's environment answers the kubelet's probes and
#   Prometheus (Host: an IP literal), the dashboard Service's name, refuses another Host, and
#   stops within terminationGracePeriodSeconds of SIGTERM.
#
# Installs kubernetes-validate and cloudcoil-models-prometheus-operator into .venv (pinned).
# Usage: scripts/deploy-checks/kubernetes.sh
# Env:   GHA_INGEST_BIN (default target/debug/gha-ingest), K8S_DIR (default deploy/kubernetes)
set -euo pipefail
cd "$(dirname "$0")/../.."

K8S_DIR="${K8S_DIR:-deploy/kubernetes}"
# The oldest release with the pod-index label the shards use, the one the namespace's Pod
# Security level is pinned to, and the newest the pinned kubernetes-validate knows.
KUBE_VERSIONS="1.28,1.30,1.37"
KUBERNETES_VALIDATE_VERSION=1.37.0
CLOUDCOIL_VERSION=0.6.0
PROMETHEUS_OPERATOR_MODELS_VERSION=0.80.1.0
GHA_INGEST_BIN="${GHA_INGEST_BIN:-target/debug/gha-ingest}"

fail() {
  echo "error: $*" >&2
  exit 1
}

[ -d "$K8S_DIR" ] || fail "$K8S_DIR is missing"
[ -x "$GHA_INGEST_BIN" ] || fail "no daemon binary at $GHA_INGEST_BIN: build it (cargo build -p gha-ingest) or set GHA_INGEST_BIN"
export NO_PROXY="${NO_PROXY:-127.0.0.1,localhost}"

if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  python3 -m venv .venv
fi
if ! .venv/bin/python - "$KUBERNETES_VALIDATE_VERSION" "$PROMETHEUS_OPERATOR_MODELS_VERSION" 2>/dev/null <<'PYTHON'
import sys
from importlib.metadata import version
sys.exit(0 if (version("kubernetes-validate"), version("cloudcoil-models-prometheus-operator")) == tuple(sys.argv[1:]) else 1)
PYTHON
then
  echo "==> installing kubernetes-validate $KUBERNETES_VALIDATE_VERSION and the prometheus-operator CRD models into .venv"
  .venv/bin/pip install --quiet --disable-pip-version-check \
    "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" \
    "cloudcoil==$CLOUDCOIL_VERSION" \
    "cloudcoil-models-prometheus-operator==$PROMETHEUS_OPERATOR_MODELS_VERSION" \
    || fail "pip install failed"
fi

workdir="$(mktemp -d)"
sim_pid=""
daemon_pid=""
cleanup() {
  local pid
  for pid in "$daemon_pid" "$sim_pid"; do
    [ -n "$pid" ] || continue
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$workdir"
}
trap cleanup EXIT

rendered=""
if command -v kubectl >/dev/null; then
  echo "==> kubectl kustomize $K8S_DIR ($(kubectl version --client 2>/dev/null | grep -i kustomize || echo 'kustomize version unknown'))"
  kubectl kustomize "$K8S_DIR" >"$workdir/rendered.yaml" || fail "kubectl kustomize $K8S_DIR failed"
  rendered="$workdir/rendered.yaml"
else
  echo "==> kubectl not found: checking the manifests as written, without rendering the kustomization"
fi

echo "==> schemas (Kubernetes $KUBE_VERSIONS, strict; ServiceMonitor CRD), workload checks, daemon check-config"
# An unreachable proxy as well as the socket guard inside: a library that fetched a schema would fail.
HTTPS_PROXY=http://127.0.0.1:9 HTTP_PROXY=http://127.0.0.1:9 ALL_PROXY=http://127.0.0.1:9 \
  .venv/bin/python - "$K8S_DIR" "$rendered" "$KUBE_VERSIONS" "$GHA_INGEST_BIN" "$workdir" <<'PYTHON'
import os
import re
import socket
import subprocess
import sys
import tomllib
from pathlib import Path


def no_network(*_args, **_kwargs):
    raise RuntimeError("network access attempted: the validation must work offline")


socket.socket.connect = no_network
socket.socket.connect_ex = no_network
socket.create_connection = no_network
socket.getaddrinfo = no_network

import yaml  # noqa: E402
from kubernetes_validate import utils as kube_schemas  # noqa: E402

# The generated models ignore unknown fields; the API server (strict field validation) and a
# reviewer do not. Set before the models are defined, so every one of them inherits it.
import cloudcoil.pydantic  # noqa: E402

cloudcoil.pydantic.BaseModel.model_config["extra"] = "forbid"
import pydantic  # noqa: E402
from cloudcoil.models.prometheus_operator import v1 as prometheus_operator  # noqa: E402

k8s_dir, rendered_path, versions_arg, daemon, workdir = sys.argv[1:]
k8s_dir = Path(k8s_dir)
workdir = Path(workdir)
versions = versions_arg.split(",")

problems = []
checks = 0


def check(condition, message):
    global checks
    checks += 1
    if not condition:
        problems.append(message)
    return bool(condition)


def report_problems():
    if problems:
        print(f"{len(problems)} problem(s) in {k8s_dir}:", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        sys.exit(1)


def load_documents(path):
    try:
        return [doc for doc in yaml.safe_load_all(Path(path).read_text(encoding="utf-8")) if doc]
    except yaml.YAMLError as error:
        sys.exit(f"error: {path} is not valid YAML: {error}")


def name_of(obj):
    return f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"


# --- the kustomization and its files ----------------------------------------------------------
kustomization = yaml.safe_load((k8s_dir / "kustomization.yaml").read_text(encoding="utf-8"))
listed = kustomization.get("resources", [])
for resource in listed:
    check((k8s_dir / resource).is_file(), f"kustomization.yaml: resource {resource} does not exist")
for generator in kustomization.get("configMapGenerator", []):
    for entry in generator.get("files", []):
        check((k8s_dir / entry.split("=")[-1]).is_file(), f"kustomization.yaml: file {entry} does not exist")
manifest_files = sorted(
    path for path in k8s_dir.glob("*.y*ml") if path.name not in ("kustomization.yaml", "kustomization.yml")
)
for path in manifest_files:
    if path.name.endswith(".example.yaml"):
        check(path.name not in listed, f"kustomization.yaml lists {path.name}: examples must not be applied")
    else:
        check(path.name in listed, f"{path.name} is not listed in kustomization.yaml (examples are named *.example.yaml)")

raw = [(path.name, doc) for path in manifest_files for doc in load_documents(path)]
rendered = [("rendered kustomization", doc) for doc in load_documents(rendered_path)] if rendered_path else []

# --- schemas ----------------------------------------------------------------------------------
schema_checked = 0


def validate_schema(where, obj):
    global schema_checked
    schema_checked += 1
    label = f"{where}: {name_of(obj)}"
    if (obj.get("apiVersion"), obj.get("kind")) == ("monitoring.coreos.com/v1", "ServiceMonitor"):
        try:
            prometheus_operator.ServiceMonitor.model_validate(obj)
        except pydantic.ValidationError as error:
            for item in error.errors():
                path = ".".join(str(part) for part in item["loc"])
                problems.append(f"{label}: prometheus-operator CRD: {path}: {item['msg']}")
        return
    for version in versions:
        try:
            kube_schemas.validate(obj, version, strict=True)
        except kube_schemas.SchemaNotFoundError:
            problems.append(f"{label}: no schema for {obj.get('apiVersion')} {obj.get('kind')} in Kubernetes {version}")
        except kube_schemas.ValidationError as error:
            path = ".".join(str(part) for part in error.path)
            problems.append(f"{label}: Kubernetes {version}: {path}: {error.message}")


for where, obj in raw + rendered:
    validate_schema(where, obj)
# What follows reads the objects as the schemas describe them.
report_problems()

# --- the objects as applied -------------------------------------------------------------------
objects = [obj for _, obj in rendered] if rendered else [obj for name, obj in raw if not name.endswith(".example.yaml")]
example_secret_file = k8s_dir / "secret.example.yaml"
example_secrets = [doc for doc in load_documents(example_secret_file) if doc.get("kind") == "Secret"] if example_secret_file.is_file() else []
check(len(example_secrets) == 1, "secret.example.yaml must hold the one Secret the workloads read")
example_secret = example_secrets[0] if example_secrets else {"metadata": {}, "stringData": {}}
example_secret_text = example_secret_file.read_text(encoding="utf-8") if example_secret_file.is_file() else ""


def of_kind(kind):
    return [obj for obj in objects if obj.get("kind") == kind]


def one(kind, name):
    found = [obj for obj in of_kind(kind) if obj["metadata"]["name"] == name]
    check(len(found) == 1, f"expected one {kind}/{name}, found {len(found)}")
    return found[0] if found else None


def matches(selector, labels):
    """A LabelSelector (or a Service's plain selector) against a set of labels."""
    if selector is None:
        return False
    if "matchLabels" not in selector and "matchExpressions" not in selector:
        selector = {"matchLabels": selector}
    if not selector.get("matchLabels") and not selector.get("matchExpressions"):
        return False  # an empty selector would match everything: never meant here
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values", [])
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and labels.get(key) in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


def quantity(text):
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([KMGT]i|[kMGT])?", str(text))
    if not match:
        raise ValueError(f"unreadable quantity {text!r}")
    return float(match.group(1)) * units.get(match.group(2), 1)


namespace_name = kustomization.get("namespace", "gha-ingest")
namespaces = of_kind("Namespace")
if check(len(namespaces) == 1, "expected one Namespace"):
    labels = namespaces[0]["metadata"].get("labels", {})
    check(namespaces[0]["metadata"]["name"] == namespace_name, "the Namespace is not the kustomization's namespace")
    for mode in ("enforce", "warn", "audit"):
        check(labels.get(f"pod-security.kubernetes.io/{mode}") == "restricted",
              f"Namespace: pod-security.kubernetes.io/{mode} must be restricted")

pipeline = one("StatefulSet", "gha-ingest-pipeline")
log_agents = one("Deployment", "gha-ingest-logs")
workloads = [w for w in (pipeline, log_agents) if w]
services = of_kind("Service")
config_map_names = {cm["metadata"]["name"] for cm in of_kind("ConfigMap")}
if not rendered:  # generated by kustomize, under its name plus a hash
    config_map_names |= {generator["name"] for generator in kustomization.get("configMapGenerator", [])}
service_accounts = {sa["metadata"]["name"]: sa for sa in of_kind("ServiceAccount")}

# What the API server checks beyond the schemas, for the fields used here.
DNS_LABEL = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")
DNS_SUBDOMAIN = re.compile(r"(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?")
PORT_NAME = re.compile(r"(?=.{1,15}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?")
for obj in objects:
    metadata = obj["metadata"]
    pattern = DNS_LABEL if obj["kind"] in ("Service", "Namespace") else DNS_SUBDOMAIN
    check(pattern.fullmatch(metadata["name"]), f"{name_of(obj)}: not a valid name for a {obj['kind']}")
    templates = [obj["spec"]["template"]["metadata"]] if obj["kind"] in ("StatefulSet", "Deployment") else []
    for meta in [metadata, *templates]:
        for key, value in meta.get("labels", {}).items():
            check(LABEL_VALUE.fullmatch(str(value)), f"{name_of(obj)}: label {key}={value!r} is not a valid label value")
    if templates:
        check(matches(obj["spec"]["selector"], templates[0].get("labels", {})),
              f"{name_of(obj)}: spec.selector does not match the pod template's labels")
        for container in obj["spec"]["template"]["spec"]["containers"]:
            for port in container.get("ports", []):
                check(PORT_NAME.fullmatch(port.get("name", "")), f"{name_of(obj)}: port name {port.get('name')!r} is not valid")

for service in services:
    selected = [w for w in workloads if matches(service["spec"].get("selector"), w["spec"]["template"]["metadata"]["labels"])]
    check(selected, f"{name_of(service)} selects no pods")
    for port in service["spec"].get("ports", []):
        for workload in selected:
            names = {p.get("name") for c in workload["spec"]["template"]["spec"]["containers"] for p in c.get("ports", [])}
            check(port.get("targetPort") in names, f"{name_of(service)}: targetPort {port.get('targetPort')} is not a port of {name_of(workload)}")

if pipeline:
    governing = [s for s in services if s["metadata"]["name"] == pipeline["spec"].get("serviceName")]
    check(governing and governing[0]["spec"].get("clusterIP") == "None",
          "StatefulSet: serviceName must name a headless Service (stable per-shard DNS names)")

# Each workload scraped exactly once by the ServiceMonitor (twice would double every series).
for monitor in of_kind("ServiceMonitor"):
    scraped = [s for s in services if matches(monitor["spec"]["selector"], s["metadata"].get("labels", {}))]
    for workload in workloads:
        through = [s for s in scraped if matches(s["spec"].get("selector"), workload["spec"]["template"]["metadata"]["labels"])]
        check(len(through) == 1, f"{name_of(monitor)} scrapes {name_of(workload)} through {len(through)} Services, not 1")
    for endpoint in monitor["spec"].get("endpoints", []):
        check(endpoint.get("path") == "/metrics", f"{name_of(monitor)}: endpoint path must be /metrics")
        for service in scraped:
            check(endpoint.get("port") in {p.get("name") for p in service["spec"]["ports"]},
                  f"{name_of(monitor)}: port {endpoint.get('port')} is not a port of {name_of(service)}")
check(len(of_kind("ServiceMonitor")) == 1, "expected one ServiceMonitor")

for workload in workloads:
    budgets = [b for b in of_kind("PodDisruptionBudget") if matches(b["spec"]["selector"], workload["spec"]["template"]["metadata"]["labels"])]
    if check(len(budgets) == 1, f"{name_of(workload)} is covered by {len(budgets)} PodDisruptionBudgets, not 1"):
        check(budgets[0]["spec"].get("unhealthyPodEvictionPolicy") == "AlwaysAllow",
              f"{name_of(budgets[0])}: unhealthyPodEvictionPolicy AlwaysAllow, or a GitHub outage blocks node drains")

# --- pods: security, probes, references -------------------------------------------------------
ALLOWED_VOLUME_TYPES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"}
DUMMY_SECRETS = {}


def container_of(workload):
    containers = workload["spec"]["template"]["spec"]["containers"]
    check(len(containers) == 1, f"{name_of(workload)}: expected one container")
    return containers[0]


for workload in workloads:
    label = name_of(workload)
    template = workload["spec"]["template"]
    pod = template["spec"]
    security = pod.get("securityContext", {})
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        check(not pod.get(key), f"{label}: {key} is not allowed (restricted)")
    check(security.get("runAsNonRoot") is True, f"{label}: pod runAsNonRoot must be true")
    check(security.get("runAsUser") == 10001, f"{label}: pod runAsUser must be 10001 (the image's user)")
    check(security.get("fsGroup") == 10001, f"{label}: fsGroup 10001, or uid 10001 cannot write its volumes")
    check(security.get("seccompProfile", {}).get("type") == "RuntimeDefault", f"{label}: seccompProfile RuntimeDefault")
    check(not security.get("sysctls"), f"{label}: no sysctls")
    check(pod.get("automountServiceAccountToken") is False, f"{label}: automountServiceAccountToken must be false")
    check(pod.get("enableServiceLinks") is False, f"{label}: enableServiceLinks must be false")
    account = service_accounts.get(pod.get("serviceAccountName"))
    if check(account, f"{label}: ServiceAccount {pod.get('serviceAccountName')} is not defined"):
        check("eks.amazonaws.com/role-arn" in account["metadata"].get("annotations", {}),
              f"ServiceAccount/{pod.get('serviceAccountName')}: no IRSA role annotation")
    volumes = {volume["name"]: volume for volume in pod.get("volumes", [])}
    for volume in pod.get("volumes", []):
        types = set(volume) - {"name"}
        check(types <= ALLOWED_VOLUME_TYPES, f"{label}: volume {volume['name']}: {types} not allowed (restricted)")
    annotations = template["metadata"].get("annotations", {})
    container = container_of(workload)
    csc = container.get("securityContext", {})
    capabilities = csc.get("capabilities", {})
    check(csc.get("allowPrivilegeEscalation") is False, f"{label}: allowPrivilegeEscalation must be false")
    check(csc.get("readOnlyRootFilesystem") is True, f"{label}: readOnlyRootFilesystem must be true")
    check(capabilities.get("drop") == ["ALL"] and not capabilities.get("add"), f"{label}: capabilities: drop ALL, add none")
    check(not csc.get("privileged") and csc.get("runAsUser", 10001) != 0, f"{label}: not privileged, not root")
    check(csc.get("seccompProfile", {}).get("type", "RuntimeDefault") == "RuntimeDefault", f"{label}: container seccomp")
    check(all(not port.get("hostPort") for port in container.get("ports", [])), f"{label}: no hostPort")
    resources = container.get("resources", {})
    for kind in ("requests", "limits"):
        for resource in ("cpu", "memory"):
            check(resource in resources.get(kind, {}), f"{label}: resources.{kind}.{resource} missing")
    ports = {port["name"]: port["containerPort"] for port in container.get("ports", [])}
    check("http" in ports, f"{label}: a container port named http")
    for probe, path in (("startupProbe", "/healthz"), ("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = container.get(probe, {}).get("httpGet", {})
        check(get.get("path") == path and get.get("port") == "http", f"{label}: {probe} must GET {path} on port http")
    check(annotations.get("prometheus.io/scrape") == "true"
          and annotations.get("prometheus.io/path") == "/metrics"
          and annotations.get("prometheus.io/port") == str(ports.get("http")),
          f"{label}: prometheus.io/scrape, /path and /port annotations")
    mounts = {mount["mountPath"]: mount for mount in container.get("volumeMounts", [])}
    check("/tmp" in mounts and not mounts["/tmp"].get("readOnly"), f"{label}: /tmp must be a writable volume")
    # Every Secret key the pod reads: the Secret the example shows, with that key (or, if
    # optional, at least mentioned there).
    references = []
    for variable in container.get("env", []):
        ref = variable.get("valueFrom", {}).get("secretKeyRef")
        if ref:
            references.append((ref["name"], ref["key"], ref.get("optional", False)))
    for volume in volumes.values():
        sources = [{"secret": volume["secret"]}] if "secret" in volume else volume.get("projected", {}).get("sources", [])
        for source in sources:
            if "secret" in source:
                secret = source["secret"]
                for item in secret.get("items", []):
                    references.append((secret.get("secretName", secret.get("name")), item["key"], secret.get("optional", False)))
    for secret_name, key, optional in references:
        check(secret_name == example_secret["metadata"].get("name"), f"{label}: Secret {secret_name} is not the one secret.example.yaml shows")
        if optional:
            check(key in example_secret_text, f"{label}: optional Secret key {key} is not described in secret.example.yaml")
        else:
            check(key in example_secret.get("stringData", {}), f"{label}: Secret key {key} is required but not in secret.example.yaml")
        DUMMY_SECRETS[key] = f"{key}-for-the-check-".ljust(32, "x")
    for volume in volumes.values():
        if "configMap" in volume:
            check(volume["configMap"]["name"] in config_map_names, f"{label}: ConfigMap {volume['configMap']['name']} is not defined")

# --- sharding ---------------------------------------------------------------------------------
def env_of(container):
    return {variable["name"]: variable for variable in container.get("env", [])}


if pipeline:
    pipeline_env = env_of(container_of(pipeline))
    count = pipeline_env.get("GHA_INGEST__PIPELINE__SHARD_COUNT", {}).get("value")
    check(count == str(pipeline["spec"].get("replicas")),
          f"StatefulSet: GHA_INGEST__PIPELINE__SHARD_COUNT ({count!r}) must equal replicas ({pipeline['spec'].get('replicas')})")
    index_ref = pipeline_env.get("GHA_INGEST__PIPELINE__SHARD_INDEX", {}).get("valueFrom", {}).get("fieldRef", {})
    check(index_ref.get("fieldPath") == "metadata.labels['apps.kubernetes.io/pod-index']",
          "StatefulSet: GHA_INGEST__PIPELINE__SHARD_INDEX must come from the pod-index label")
    check(container_of(pipeline).get("args") == ["run", "--agents", "pipeline"], "StatefulSet: args must be run --agents pipeline")
    check(pipeline["spec"].get("podManagementPolicy") == "Parallel", "StatefulSet: podManagementPolicy Parallel")
if log_agents:
    check(container_of(log_agents).get("args") == ["run", "--agents", "logs"], "Deployment: args must be run --agents logs")
    check(not any(name.startswith("GHA_INGEST__PIPELINE__") for name in env_of(container_of(log_agents))),
          "Deployment: log agents take no pipeline settings")

# The image the kustomization deploys is the release the crate builds.
cargo_version = re.search(r'^version\s*=\s*"([^"]+)"', Path("Cargo.toml").read_text(encoding="utf-8"), re.M)
tags = [image.get("newTag") for image in kustomization.get("images", []) if image.get("name") == "gha-ingest"]
check(cargo_version and tags == [cargo_version.group(1)],
      f"kustomization.yaml: images gha-ingest newTag {tags} must be the workspace version {cargo_version and cargo_version.group(1)}")

# --- the daemon's own verdict on the configuration, with each pod's environment ------------------
config_file = k8s_dir / "gha-ingest.toml"
file_config = tomllib.loads(config_file.read_text(encoding="utf-8"))
token_file = workdir / "github-token"
token_file.write_text("ghp_token_for_the_check\n", encoding="utf-8")


def pod_environment(workload, ordinal, with_optional=True):
    """The environment the pod's container gets, with the pod's files mapped to local ones."""
    container = container_of(workload)
    mounts = {mount["name"]: mount["mountPath"] for mount in container.get("volumeMounts", [])}
    env = {"PATH": os.environ["PATH"], "HOME": str(workdir)}
    for variable in container.get("env", []):
        name, source = variable["name"], variable.get("valueFrom", {})
        if "value" in variable:
            env[name] = variable["value"]
        elif "secretKeyRef" in source:
            if with_optional or not source["secretKeyRef"].get("optional"):
                env[name] = DUMMY_SECRETS[source["secretKeyRef"]["key"]]
        elif source.get("fieldRef", {}).get("fieldPath") == "metadata.labels['apps.kubernetes.io/pod-index']":
            env[name] = str(ordinal)
        else:
            problems.append(f"{name_of(workload)}: env {name}: a source this check cannot resolve")
    config_mount = next((mounts[v["name"]] for v in workload["spec"]["template"]["spec"]["volumes"] if "configMap" in v), None)
    check(env.get("GHA_INGEST_CONFIG") == f"{config_mount}/gha-ingest.toml",
          f"{name_of(workload)}: GHA_INGEST_CONFIG must be the mounted gha-ingest.toml")
    secret_mount = mounts.get("secrets")
    check(file_config["github"].get("token_file") == f"{secret_mount}/github-token",
          f"gha-ingest.toml: github.token_file must be the mounted Secret key github-token ({secret_mount}/github-token)")
    env["GHA_INGEST_CONFIG"] = str(config_file)
    env["GHA_INGEST__GITHUB__TOKEN_FILE"] = str(token_file)
    return env


daemon_runs = 0


def check_config(env):
    global daemon_runs
    daemon_runs += 1
    return subprocess.run([daemon, "check-config"], env=env, capture_output=True, text=True, timeout=60)


def effective(workload, ordinal, with_optional=True):
    result = check_config(pod_environment(workload, ordinal, with_optional))
    if not check(result.returncode == 0,
                 f"{name_of(workload)} (ordinal {ordinal}): gha-ingest check-config refused it: {result.stderr.strip()}"):
        return None
    return tomllib.loads(result.stdout)


def writable_mount(container, path):
    """The writable volume mount holding `path`, if any."""
    best = None
    for mount in container.get("volumeMounts", []):
        root = mount["mountPath"].rstrip("/") + "/"
        if (path.rstrip("/") + "/").startswith(root) and not mount.get("readOnly"):
            if best is None or len(root) > len(best["mountPath"]):
                best = mount
    return best


dashboard = next((s for s in services if s["metadata"]["labels"].get("app.kubernetes.io/component") == "dashboard"), None)
for workload in workloads:
    label = name_of(workload)
    container = container_of(workload)
    pod = workload["spec"]["template"]["spec"]
    is_pipeline = workload["kind"] == "StatefulSet"
    ordinals = range(int(workload["spec"].get("replicas", 1))) if is_pipeline else [0]
    for ordinal in ordinals:
        settings = effective(workload, ordinal)
        if settings is None:
            continue
        if is_pipeline:
            shard = (settings["pipeline"]["shard_index"], settings["pipeline"]["shard_count"])
            check(shard == (ordinal, len(ordinals)),
                  f"{label}-{ordinal}: the daemon runs shard_index/shard_count {shard[0]}/{shard[1]}, not {ordinal}/{len(ordinals)}")
    settings = effective(workload, 0, with_optional=False)
    if settings is None:
        continue
    listen_port = int(settings["http"]["listen"].rsplit(":", 1)[1])
    check(settings["http"]["listen"].startswith("0.0.0.0:"), f"{label}: http.listen must be 0.0.0.0 (probes and Prometheus come from outside the pod)")
    check(listen_port == {p["name"]: p["containerPort"] for p in container["ports"]}.get("http"),
          f"{label}: http.listen port {listen_port} is not the container port named http")
    grace = settings["daemon"]["shutdown_grace_secs"]
    check(pod.get("terminationGracePeriodSeconds", 30) >= grace + 10,
          f"{label}: terminationGracePeriodSeconds {pod.get('terminationGracePeriodSeconds', 30)} must exceed daemon.shutdown_grace_secs ({grace}) by 10 s")
    store_dir = str(Path(settings["store"]["path"]).parent)
    data_mount = writable_mount(container, store_dir)
    check(data_mount, f"{label}: the store's folder {store_dir} (state, log spools) is not on a writable volume")
    if settings["queue"]["backend"] == "embedded":
        check(writable_mount(container, str(Path(settings["queue"]["embedded"]["path"]).parent)),
              f"{label}: the embedded queue's folder is not on a writable volume")
    spool_bytes = settings["http"]["log_spool_max_bytes"]
    if is_pipeline and data_mount:
        claims = {claim["metadata"]["name"]: claim for claim in workload["spec"].get("volumeClaimTemplates", [])}
        claim = claims.get(data_mount["name"])
        if check(claim, f"{label}: {store_dir} must be a volumeClaimTemplate (state survives restarts)"):
            check(claim["spec"].get("accessModes") == ["ReadWriteOnce"], f"{label}: the state claim must be ReadWriteOnce (one writer)")
            check(quantity(claim["spec"]["resources"]["requests"]["storage"]) >= spool_bytes + 2**30,
                  f"{label}: the state claim must hold the log viewer's spool ({spool_bytes} bytes) and 1 GiB more")
        hosts = set(settings["http"]["allowed_hosts"])
        if dashboard:
            service = dashboard["metadata"]["name"]
            for host in (service, f"{service}.{namespace_name}", f"{service}.{namespace_name}.svc", f"{service}.{namespace_name}.svc.cluster.local"):
                check(host in hosts, f"gha-ingest.toml: http.allowed_hosts lacks {host}, the dashboard Service's name")
    if not is_pipeline and data_mount:
        volume = next(v for v in pod["volumes"] if v["name"] == data_mount["name"])
        needed = settings["logs"]["concurrency"] * settings["logs"]["max_log_bytes"] + spool_bytes
        if check("emptyDir" in volume and "sizeLimit" in volume["emptyDir"], f"{label}: the data volume must be an emptyDir with a sizeLimit"):
            check(quantity(volume["emptyDir"]["sizeLimit"]) >= needed,
                  f"{label}: data emptyDir sizeLimit {volume['emptyDir']['sizeLimit']} is below the spools' bound ({needed} bytes): the kubelet would evict the pod")
    # The environment, for the live probe check that follows.
    env = pod_environment(workload, 0)
    with open(workdir / ("pipeline.env" if is_pipeline else "logs.env"), "w", encoding="utf-8") as out:
        for key, value in env.items():
            if key not in ("PATH", "HOME"):
                out.write(f"{key}={value}\n")
        out.write(f"TERMINATION_GRACE_SECS={pod.get('terminationGracePeriodSeconds', 30)}\n")

# A pod beyond shard_count (replicas raised without the count) must refuse to start, not
# silently poll the repositories of another shard.
if pipeline:
    beyond = int(pipeline["spec"].get("replicas", 1))
    result = check_config(pod_environment(pipeline, beyond))
    check(result.returncode == 2 and "pipeline.shard_index" in result.stderr,
          f"check-config did not refuse shard_index {beyond} of shard_count {beyond} for that reason "
          f"(exit {result.returncode}): {result.stderr.strip()}")

report_problems()
print(f"    {schema_checked} objects valid ({len(raw)} as written, {len(rendered)} rendered) against Kubernetes "
      f"{', '.join(versions)} strict and the ServiceMonitor CRD; {checks} further checks passed, "
      f"{daemon_runs} of them gha-ingest check-config runs")
PYTHON

# --- the daemon with each workload's environment, probed as the kubelet and Prometheus do --------
free_port() {
  .venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# status HOST PATH [TOKEN]: the HTTP status of one request to the daemon on $port.
status() {
  local auth=()
  [ -n "${3:-}" ] && auth=(-H "Authorization: Bearer $3")
  curl -s -o "$workdir/body" -w '%{http_code}' --max-time 10 -H "Host: $1" "${auth[@]}" "http://127.0.0.1:$port$2" || true
}

# load_env NAME: the pod's environment written by the check above (NAME.env), one KEY=VALUE per
# element of the array pod_env; its terminationGracePeriodSeconds in grace_secs.
load_env() {
  mapfile -t pod_env < <(grep -v '^TERMINATION_GRACE_SECS=' "$workdir/$1.env")
  grace_secs="$(sed -n 's/^TERMINATION_GRACE_SECS=//p' "$workdir/$1.env")"
}

api_port="$(free_port)"
log_port="$(free_port)"
sim_token=sim-token-for-the-kubernetes-check
"$GHA_INGEST_BIN" sim --api-addr "127.0.0.1:$api_port" --log-addr "127.0.0.1:$log_port" \
  --repo acme/webapp --history 2 --new-run-every-secs 5 --token "$sim_token" >"$workdir/sim.log" 2>&1 &
sim_pid=$!
printf '%s\n' "$sim_token" >"$workdir/github-token"

for agent in pipeline logs; do
  echo "==> the $agent pods' environment: probes, Host check, SIGTERM"
  load_env "$agent"
  port="$(free_port)"
  mkdir -p "$workdir/$agent"
  # As in the pod, except: GitHub is the simulator, the queue the embedded one, files are local.
  env -i PATH="$PATH" HOME="$workdir" "${pod_env[@]}" \
    GITHUB_API_URL="http://127.0.0.1:$api_port" \
    GHA_INGEST__GITHUB__TOKEN_FILE="$workdir/github-token" \
    GHA_INGEST__QUEUE__BACKEND=embedded \
    GHA_INGEST__QUEUE__EMBEDDED__PATH="$workdir/queue.sqlite" \
    GHA_INGEST__STORE__PATH="$workdir/$agent/state.sqlite" \
    GHA_INGEST__HTTP__LISTEN="127.0.0.1:$port" \
    "$GHA_INGEST_BIN" run --agents "$agent" >"$workdir/$agent.log" 2>&1 &
  daemon_pid=$!
  read_token="$(sed -n 's/^GHA_INGEST_READ_TOKEN=//p' "$workdir/$agent.env")"

  # The kubelet probes, and Prometheus scrapes, with Host: <pod IP>:<port>. Only the header
  # carries this (documentation) address: every request goes to loopback.
  pod_host="192.0.2.10:8080"
  ready=""
  for _ in $(seq 1 60); do
    kill -0 "$daemon_pid" 2>/dev/null || { cat "$workdir/$agent.log" >&2; fail "the $agent daemon exited at start"; }
    if [ "$(status "$pod_host" /readyz)" = 200 ]; then
      ready=yes
      break
    fi
    sleep 0.5
  done
  [ -n "$ready" ] || { cat "$workdir/body" >&2; fail "$agent: /readyz never answered 200 (Host $pod_host)"; }
  [ "$(status "$pod_host" /healthz)" = 200 ] || fail "$agent: /healthz did not answer 200 to Host $pod_host"
  [ "$(status "$pod_host" /metrics)" = 200 ] || fail "$agent: /metrics did not answer 200 to Host $pod_host"
  grep -q "^gha_ingest_${agent}_running 1" "$workdir/body" \
    || fail "$agent: /metrics has no gha_ingest_${agent}_running 1"
  # The dashboard Service's name is allowed (pipeline shards serve the dashboard), others are not.
  if [ "$agent" = pipeline ]; then
    code="$(status gha-ingest.gha-ingest.svc /api/status "$read_token")"
    [ "$code" = 200 ] || fail "pipeline: /api/status by the dashboard Service's name answered $code, not 200"
    code="$(status gha-ingest.gha-ingest.svc /api/status)"
    [ "$code" = 401 ] || fail "pipeline: /api/status without the read token answered $code, not 401"
  fi
  code="$(status attacker.example /healthz)"
  [ "$code" = 421 ] || fail "$agent: Host attacker.example answered $code, not 421"

  started="$(date +%s)"
  kill -TERM "$daemon_pid"
  exit_code=0
  wait "$daemon_pid" || exit_code=$?
  daemon_pid=""
  took=$(($(date +%s) - started))
  [ "$exit_code" = 0 ] || { tail -n 20 "$workdir/$agent.log" >&2; fail "$agent: exit code $exit_code after SIGTERM, not 0"; }
  [ "$took" -lt "$grace_secs" ] || fail "$agent: took ${took}s to stop, not under terminationGracePeriodSeconds (${grace_secs}s)"
  echo "    ready, probes 200, Host check 421, stopped ${took}s after SIGTERM (grace ${grace_secs}s)"
done

echo "==> deploy/kubernetes: all checks passed"
