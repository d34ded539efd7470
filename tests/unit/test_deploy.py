"""The deploy files agree with the code: metrics, CLI commands, settings, ports, packages.

No YAML parser is a dependency, so the files are read with regular expressions; they are
written in a regular style for that (flow lists for commands, one ``KEY: "value"`` per line in
the ConfigMap and the Secret), and the helpers fail loudly when a file stops matching it.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import json
import pkgutil
import re
import shlex
import tomllib
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import dramatiq
import pytest
from prometheus_client.metrics import MetricWrapperBase

import runtime.metrics
from cli.main import build_parser
from cli.services import INGRESS_REQUIRED, WORKER_REQUIRED
from runtime.metrics import GraphMetrics
from runtime.settings import Settings
from workers.actors import EVENT_TIME_LIMIT_MS

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
ROLES = ("ingress", "worker", "scheduler")

#: Metrics SPEC §12 names that a later issue will implement (scheduler gauges, Graph client).
#: The alert rules and the dashboard already use them; remove an entry once it is defined.
PENDING_METRICS: dict[str, str] = {}
#: SPEC §10 commands the runbooks name whose verb group a later issue will register. Once the
#: group is registered, the whole command is parsed by the real CLI instead.
PENDING_COMMANDS: set[tuple[str, str]] = set()
#: Variables read by the test suite and tools, not by the settings (SPEC §2).
TOOL_VARIABLES = {"WAPIPE_TEST_DATABASE_URL", "WAPIPE_TEST_REDIS_URL"}
#: Settings that are secrets (SPEC §3, §16): never in the ConfigMap, never literal in compose.
SECRET_VARIABLES = {
    "WAPIPE_DATABASE_URL",
    "WAPIPE_REDIS_URL",
    "WAPIPE_BROKER_URL",
    "WAPIPE_APP_SECRET",
    "WAPIPE_VERIFY_TOKEN",
    "WAPIPE_TOKEN_KEYS",
    "WAPIPE_REGISTER_PIN",
}

_METRIC_NAME = re.compile(r"\b((?:wapipe|dramatiq)_[a-z0-9_]*[a-z0-9])\b")
_COUNTER_FUNCTIONS = re.compile(r"\b(?:rate|irate|increase)\(\s*([a-z_][a-z0-9_]*)")
_GAUGE_FUNCTIONS = re.compile(r"\b(?:delta|deriv|idelta)\(\s*([a-z_][a-z0-9_]*)")
_VARIABLE = re.compile(r"\bWAPIPE_[A-Z0-9_]*[A-Z0-9]\b")
_CODE_SPAN = re.compile(r"`([^`]+)`")
_INTERPOLATION = re.compile(
    r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
)


# --- reading the files ---------------------------------------------------------------------


def read(relative: str) -> str:
    return (ROOT / relative).read_text(encoding="utf-8")


def deploy_text_files() -> list[Path]:
    files = [path for path in DEPLOY.rglob("*") if path.is_file()]
    assert len(files) >= 10, "the deploy folder is missing files"
    return sorted(files)


def series_of(name: str, kind: str) -> dict[str, str]:
    """The series names a metric family exposes, each mapped to the family's kind."""
    if kind == "counter":
        return {name.removesuffix("_total") + "_total": "counter"}
    if kind == "histogram":
        return {f"{name}{suffix}": "histogram" for suffix in ("_bucket", "_sum", "_count")}
    return {name: kind}


@cache
def exported_wapipe_series() -> dict[str, str]:
    """Every ``wapipe_*`` series a process exports: runtime/metrics and the scrape collectors."""
    series: dict[str, str] = {}
    for module_info in pkgutil.iter_modules(runtime.metrics.__path__):
        module = importlib.import_module(f"runtime.metrics.{module_info.name}")
        for value in vars(module).values():
            # A metric, or a group of them (``GraphMetrics``) holding metrics as attributes.
            members = vars(value).values() if isinstance(value, GraphMetrics) else [value]
            for member in members:
                if isinstance(member, MetricWrapperBase):
                    # Counters keep their name without ``_total`` in ``_name``.
                    series.update(series_of(member._name, str(member._type)))
    families = re.compile(r"(Gauge|Counter|Histogram)MetricFamily\(\s*\"(wapipe_[a-z0-9_]+)\"")
    for path in sorted((ROOT / "adapters").glob("*.py")):
        for kind, name in families.findall(path.read_text(encoding="utf-8")):
            series.update(series_of(name, kind.lower()))
    return series


@cache
def dramatiq_series() -> dict[str, str]:
    """The series Dramatiq's Prometheus middleware defines, read from the installed source."""
    source = (Path(dramatiq.__file__).parent / "middleware" / "prometheus.py").read_text()
    definitions = re.findall(r"prom\.(Counter|Gauge|Histogram)\(\s*\"(dramatiq_[a-z_]+)\"", source)
    assert definitions, "Dramatiq's Prometheus middleware defines no metric any more"
    series: dict[str, str] = {}
    for kind, name in definitions:
        series.update(series_of(name, kind.lower()))
    return series


def known_series() -> dict[str, str]:
    series = dict(exported_wapipe_series())
    for name, kind in PENDING_METRICS.items():
        series.update(series_of(name, kind))
    series.update(dramatiq_series())
    return series


@cache
def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(read("deploy/grafana/dashboard.json"))
    return data


def dashboard_panels() -> Iterator[dict[str, Any]]:
    def walk(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for panel in panels:
            yield panel
            yield from walk(panel.get("panels", []))

    return walk(dashboard()["panels"])


def dashboard_expressions() -> list[str]:
    return [
        target["expr"]
        for panel in dashboard_panels()
        for target in panel.get("targets", [])
        if "expr" in target
    ]


@cache
def alert_rules() -> dict[str, str]:
    """Alert name → the text of its rule (up to the next rule)."""
    text = read("deploy/prometheus/alerts.yml")
    parts = re.split(r"^\s*- alert:\s*(\S+)\s*$", text, flags=re.MULTILINE)
    rules = dict(zip(parts[1::2], parts[2::2], strict=True))
    assert rules, "alerts.yml has no rule"
    return rules


def alert_expressions() -> list[str]:
    expressions = []
    for rule in alert_rules().values():
        match = re.search(r"^\s*expr:\s*(?:>-\s*\n)?(.*?)^\s*for:", rule, re.DOTALL | re.MULTILINE)
        assert match, f"no expr/for in rule:\n{rule}"
        expressions.append(" ".join(match.group(1).split()))
    return expressions


def block_after(text: str, header: str) -> str:
    """The lines indented under a top-level ``header:`` line."""
    match = re.search(rf"^{re.escape(header)}\s*$\n((?:[ #].*\n|\n)*)", text, re.MULTILINE)
    assert match, f"no {header!r} block"
    return match.group(1)


def quoted_mapping(block: str) -> dict[str, str]:
    """``  KEY: "value"`` lines; every entry of the block must have that form."""
    entries = [
        line for line in block.splitlines() if line.strip() and not line.strip().startswith("#")
    ]
    pairs = [re.fullmatch(r'  ([A-Z][A-Z0-9_]*): "(.*)"', line) for line in entries]
    assert all(pairs), (
        f"unexpected lines: {[e for e, p in zip(entries, pairs, strict=True) if not p]}"
    )
    return {pair[1]: pair[2] for pair in pairs if pair}


@cache
def configmap_data() -> dict[str, str]:
    return quoted_mapping(block_after(read("deploy/k8s/configmap.yaml"), "data:"))


@cache
def example_secret_data() -> dict[str, str]:
    return quoted_mapping(block_after(read("deploy/k8s/secret.example.yaml"), "stringData:"))


@cache
def compose_text() -> str:
    return read("deploy/compose.yaml")


@cache
def compose_services() -> dict[str, str]:
    services = block_after(compose_text(), "services:")
    parts = re.split(r"^  ([a-z][a-z0-9_-]*):\s*$", services, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def wapipe_compose_services() -> dict[str, str]:
    return {name: block for name, block in compose_services().items() if "*wapipe-image" in block}


@cache
def example_env() -> dict[str, str]:
    pairs = re.findall(r"^([A-Z][A-Z0-9_]*)=(.*)$", read("deploy/example.env"), re.MULTILINE)
    return dict(pairs)


def interpolate(value: str, variables: dict[str, str]) -> str:
    """Compose's ``${NAME}``, ``${NAME:-default}`` and ``${NAME:?message}``."""

    def replace(match: re.Match[str]) -> str:
        name, operator, argument = match["name"], match["op"], match["arg"]
        present = variables.get(name)
        unset = present is None if operator in ("-", "?") else not present
        if operator in (":-", "-") and unset:
            return str(argument)
        if operator in (":?", "?") and unset:
            raise AssertionError(f"compose needs {name}: {argument}")
        return present or ""

    return _INTERPOLATION.sub(replace, value)


@cache
def compose_environment_raw() -> dict[str, str]:
    block = block_after(compose_text(), "x-wapipe-env: &wapipe-env")
    entries = [
        line for line in block.splitlines() if line.strip() and not line.strip().startswith("#")
    ]
    pairs = [re.fullmatch(r"  (WAPIPE_[A-Z0-9_]+): (.*)", line) for line in entries]
    assert all(pairs), f"unexpected lines in x-wapipe-env: {entries}"
    return {pair[1]: pair[2].strip('"') for pair in pairs if pair}


def flow_lists(text: str, key: str) -> list[list[str]]:
    lists: list[list[str]] = [
        json.loads(m) for m in re.findall(rf"^\s*{key}:\s*(\[.*\])\s*$", text, re.MULTILINE)
    ]
    return lists


def workload_manifests() -> dict[str, str]:
    """The Kubernetes manifests that run a wapipe container (they pass it ``args``)."""
    texts = {path.name: path.read_text(encoding="utf-8") for path in sorted(K8S.glob("*.yaml"))}
    return {name: text for name, text in texts.items() if re.search(r"^\s*args:", text, re.M)}


@cache
def parser() -> argparse.ArgumentParser:
    return build_parser()


def parse_error(argv: list[str]) -> str | None:
    """None when the CLI accepts ``argv``, else argparse's message."""
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            parser().parse_args(argv)
    except SystemExit:
        return stderr.getvalue().strip() or f"wapipe {shlex.join(argv)} exits early"
    return None


def subcommands(action_owner: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in action_owner._actions:
        if isinstance(action, argparse._SubParsersAction):
            choices: dict[str, argparse.ArgumentParser] = action.choices
            return choices
    return {}


def code_snippets(text: str) -> list[str]:
    """The lines of fenced code blocks, then the inline code spans of the rest."""
    fence = re.compile(r"^```[^\n]*\n(.*?)^```", re.DOTALL | re.MULTILINE)
    lines = [line for block in fence.findall(text) for line in block.splitlines()]
    return lines + _CODE_SPAN.findall(fence.sub("", text))


def documented_commands(relative: str) -> list[list[str]]:
    """The ``wapipe …`` commands in the code of a runbook or README file, as argv lists."""
    commands = []
    for snippet in code_snippets(read(relative)):
        match = re.search(r"(?:^|\bexec \S+ )wapipe (.+)$", " ".join(snippet.split()))
        if match:
            commands.append(shlex.split(match.group(1)))
    return commands


def memory_bytes(quantity: str) -> int:
    match = re.fullmatch(r"(\d+)(Mi|Gi|M|G)", quantity)
    assert match, f"unexpected memory quantity {quantity!r}"
    return int(match[1]) * {"Mi": 2**20, "Gi": 2**30, "M": 10**6, "G": 10**9}[match[2]]


# --- metrics ---------------------------------------------------------------------------------


def test_the_defined_metrics_are_collected_with_their_exposed_series_names():
    series = exported_wapipe_series()
    assert series["wapipe_webhooks_received_total"] == "counter"
    assert series["wapipe_ingest_duration_seconds_bucket"] == "histogram"
    assert series["wapipe_events_total"] == "counter"
    assert series["wapipe_dependency_up"] == "gauge"
    for name in ("wapipe_backlog_events", "wapipe_backlog_oldest_seconds", "wapipe_dead_letters"):
        assert series[name] == "gauge"
    assert "wapipe_webhooks_received" not in series
    assert dramatiq_series()["dramatiq_message_rejects_total"] == "counter"


@pytest.mark.parametrize("source", ["alerts", "dashboard"])
def test_every_metric_the_alerts_and_the_dashboard_read_is_exported(source: str):
    expressions = alert_expressions() if source == "alerts" else dashboard_expressions()
    used = {name for expression in expressions for name in _METRIC_NAME.findall(expression)}
    assert len(used) >= 8
    unknown = sorted(used - known_series().keys())
    assert not unknown, f"{source} reads metrics nothing exports: {unknown}"


def test_the_metric_allow_list_names_only_metrics_of_spec_section_12_still_missing():
    defined = exported_wapipe_series()
    for name, kind in PENDING_METRICS.items():
        assert not set(series_of(name, kind)) & defined.keys(), f"{name} is defined: unlist it"


def test_rates_are_taken_of_counters_and_deltas_of_gauges():
    known = known_series()
    for expression in alert_expressions() + dashboard_expressions():
        for name in _COUNTER_FUNCTIONS.findall(expression):
            if name in known:
                assert known[name] in ("counter", "histogram"), f"rate of a gauge: {expression}"
                assert not name.endswith("_bucket") or "histogram_quantile" in expression
        for name in _GAUGE_FUNCTIONS.findall(expression):
            assert known.get(name) == "gauge", f"delta of a non-gauge: {expression}"


# --- alert rules -----------------------------------------------------------------------------


def test_every_alert_rule_has_a_severity_a_summary_a_description_and_a_wapipe_runbook():
    assert len(alert_rules()) >= 9
    for name, rule in alert_rules().items():
        assert re.search(r"^\s*severity:\s*(critical|warning|info)\s*$", rule, re.MULTILINE), name
        assert re.search(r"^\s*summary:\s*\S", rule, re.MULTILINE), name
        assert re.search(r"^\s*description:\s*\S", rule, re.MULTILINE), name
        runbook = re.search(r"^\s*runbook:\s*(.*?)(?=^\s*-\s|\Z)", rule, re.DOTALL | re.MULTILINE)
        assert runbook, f"{name} has no runbook"
        assert "`wapipe " in runbook.group(1), f"{name} names no wapipe command"


def test_the_alerts_watch_dead_letters_backlog_dependencies_ingest_tokens_and_rejects():
    expressions = "\n".join(alert_expressions())
    for needle in (
        "wapipe_dead_letters",
        "wapipe_backlog_oldest_seconds",
        "wapipe_dependency_up == 0",
        'outcome="unavailable"',
        "wapipe_enqueue_failures_total",
        'outcome="bad_signature"',
        'wapipe_tokens{status="critical"}',
        "wapipe_orphan_connections",
        "dramatiq_message_rejects_total",
    ):
        assert needle in expressions


# --- CLI commands ----------------------------------------------------------------------------


def test_every_service_command_in_compose_and_kubernetes_is_accepted_by_the_cli():
    compose = {
        name: flow_lists(block, "command") for name, block in wapipe_compose_services().items()
    }
    kubernetes = {name: flow_lists(text, "args") for name, text in workload_manifests().items()}
    argvs = [argv for lists in (*compose.values(), *kubernetes.values()) for argv in lists]
    for argv in argvs:
        error = parse_error(argv)
        assert error is None, f"wapipe {shlex.join(argv)}: {error}"
    for commands in (compose, kubernetes):
        verbs = {argv[0] for lists in commands.values() for argv in lists}
        assert verbs == {"migrate", "ingress", "worker", "scheduler"}
    assert all(len(lists) == 1 for lists in compose.values()), compose


@pytest.mark.parametrize("source", ["deploy/prometheus/alerts.yml", "deploy/README.md"])
def test_every_wapipe_command_in_the_runbooks_and_the_readme_is_accepted_by_the_cli(source: str):
    commands = documented_commands(source)
    assert len(commands) >= 8
    groups = subcommands(parser())
    for argv in commands:
        if argv[0] in groups:
            error = parse_error(argv)
            assert error is None, f"wapipe {shlex.join(argv)}: {error}"
        else:
            assert tuple(argv[:2]) in PENDING_COMMANDS, f"wapipe {shlex.join(argv)}"


def test_the_image_runs_the_wapipe_console_script_as_a_non_root_user():
    dockerfile = read("deploy/Dockerfile")
    scripts = tomllib.loads(read("pyproject.toml"))["project"]["scripts"]
    assert "wapipe" in scripts
    assert re.search(r'^ENTRYPOINT \["wapipe"\]\s*$', dockerfile, re.MULTILINE)
    assert set(re.findall(r"^FROM (\S+)", dockerfile, re.MULTILINE)) == {"python:3.11-slim"}
    users = re.findall(r"^USER (\S+)\s*$", dockerfile, re.MULTILINE)
    assert users
    assert users[-1].split(":")[0] not in ("root", "0")


def test_the_image_installs_the_project_without_extras_from_every_package_it_lists():
    dockerfile = read("deploy/Dockerfile")
    assert re.search(r"pip install \.\s*$", dockerfile, re.MULTILINE)
    assert "[dev" not in dockerfile
    assert "[embedded" not in dockerfile
    packages = tomllib.loads(read("pyproject.toml"))["tool"]["setuptools"]["packages"]
    copied = set(re.findall(r"^COPY (\S+) \./", dockerfile, re.MULTILINE))
    assert {"pyproject.toml"} | {package.split(".")[0] for package in packages} <= copied


def test_every_python_package_of_the_project_is_in_the_installed_distribution():
    listed = set(tomllib.loads(read("pyproject.toml"))["tool"]["setuptools"]["packages"])
    tops = {package.split(".")[0] for package in listed}
    on_disk = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for top in tops
        for init in (ROOT / top).rglob("__init__.py")
    }
    assert on_disk <= listed, f"not installed by `pip install .`: {sorted(on_disk - listed)}"


# --- settings --------------------------------------------------------------------------------


@cache
def settings_variables() -> set[str]:
    source = read("runtime/settings.py")
    names = set(re.findall(r"\breader\.\w+\(\s*\"([A-Z][A-Z0-9_]*)\"", source))
    assert {"DATABASE_URL", "APP_SECRET", "PORT", "WORKER_METRICS_PORT"} <= names
    return {f"WAPIPE_{name}" for name in names}


def test_every_wapipe_variable_in_the_deploy_files_is_read_by_the_settings():
    for path in deploy_text_files():
        named = set(_VARIABLE.findall(path.read_text(encoding="utf-8")))
        unknown = named - settings_variables() - TOOL_VARIABLES
        assert not unknown, f"{path.relative_to(ROOT)} names unknown variables: {sorted(unknown)}"


def test_the_tool_variables_are_the_ones_the_test_suite_reads():
    conftest = read("tests/conftest.py")
    for name in TOOL_VARIABLES:
        assert f'"{name}"' in conftest


def kubernetes_environ() -> dict[str, str]:
    return {**configmap_data(), **example_secret_data()}


def compose_environ() -> dict[str, str]:
    return {
        name: interpolate(value, example_env()) for name, value in compose_environment_raw().items()
    }


@pytest.mark.parametrize("environ", [kubernetes_environ, compose_environ], ids=["k8s", "compose"])
def test_the_example_configuration_is_accepted_by_every_service(environ: Any):
    settings = Settings.from_environ(environ())
    settings.require(*INGRESS_REQUIRED)
    settings.require(*WORKER_REQUIRED)
    defaults = Settings()
    assert settings.port == defaults.port
    assert settings.worker_metrics_port == defaults.worker_metrics_port
    assert settings.scheduler_metrics_port == defaults.scheduler_metrics_port


def test_secrets_are_kept_out_of_the_configmap_and_out_of_the_compose_file():
    assert not configmap_data().keys() & SECRET_VARIABLES
    assert example_secret_data().keys() == SECRET_VARIABLES
    compose = compose_environment_raw()
    for name in (
        "WAPIPE_APP_SECRET",
        "WAPIPE_VERIFY_TOKEN",
        "WAPIPE_TOKEN_KEYS",
        "WAPIPE_REGISTER_PIN",
    ):
        assert _INTERPOLATION.fullmatch(compose[name]), f"{name} is written into compose.yaml"
    assert "${POSTGRES_PASSWORD:?" in compose["WAPIPE_DATABASE_URL"]
    assert "${POSTGRES_PASSWORD:?" in compose_services()["postgres"]


def test_example_secret_values_are_recognisable_placeholders():
    checked = 0
    for examples in (example_secret_data(), example_env()):
        for name, value in examples.items():
            if value and (name in SECRET_VARIABLES or name == "POSTGRES_PASSWORD"):
                assert "CHANGEME" in value or ".invalid" in value, f"{name} looks real: {value!r}"
                checked += 1
    assert checked >= 6


# --- Kubernetes ------------------------------------------------------------------------------


def test_the_kustomization_lists_every_manifest_but_the_example_secret():
    text = read("deploy/k8s/kustomization.yaml")
    resources = re.findall(r"^  - (\S+\.yaml)\s*$", text, re.MULTILINE)
    manifests = {path.name for path in K8S.glob("*.yaml")}
    assert sorted(resources) == sorted(manifests - {"kustomization.yaml", "secret.example.yaml"})


def test_every_workload_reads_the_configmap_and_the_secret_defined_in_the_folder():
    configmap = re.search(r"^  name: (\S+)", read("deploy/k8s/configmap.yaml"), re.MULTILINE)
    secret = re.search(r"^  name: (\S+)", read("deploy/k8s/secret.example.yaml"), re.MULTILINE)
    assert configmap
    assert secret
    workloads = workload_manifests()
    assert len(workloads) == 4
    for name, text in workloads.items():
        assert re.findall(r"configMapRef:\s*\n\s*name: (\S+)", text) == [configmap[1]], name
        assert re.findall(r"secretRef:\s*\n\s*name: (\S+)", text) == [secret[1]], name


def expected_ports() -> dict[str, int]:
    settings = Settings.from_environ(configmap_data())
    return {
        "ingress": settings.port,
        "worker": settings.worker_metrics_port,
        "scheduler": settings.scheduler_metrics_port,
    }


def test_every_port_in_the_deploy_files_is_the_one_the_role_listens_on():
    ports = expected_ports()
    prometheus = read("deploy/prometheus/prometheus.yml")
    jobs = dict(re.findall(r"job_name: wapipe-(\w+)\n(?:.*\n)*?\s+port: (\d+)", prometheus))
    assert {role: int(port) for role, port in jobs.items()} == ports
    for role in ROLES:
        manifest = read(f"deploy/k8s/{role}-deployment.yaml")
        assert {int(p) for p in re.findall(r"containerPort: (\d+)", manifest)} == {ports[role]}
        assert re.findall(r'prometheus\.io/port: "(\d+)"', manifest) == [str(ports[role])]
    exposed = re.search(r"^EXPOSE ([\d ]+)$", read("deploy/Dockerfile"), re.MULTILINE)
    assert exposed
    assert {int(p) for p in exposed[1].split()} == set(ports.values())
    services = compose_services()
    assert f'"{ports["ingress"]}:{ports["ingress"]}"' in services["ingress"]
    assert f"127.0.0.1:{ports['ingress']}/healthz" in services["ingress"]
    assert f'"{ports["worker"]}"' in services["worker"]
    assert f'"{ports["scheduler"]}"' in services["scheduler"]


def test_probes_and_scrapes_use_routes_the_ingress_serves():
    routes = set(re.findall(r'Route\("(/[a-z]+)"', read("ingress/app.py")))
    assert {"/healthz", "/readyz", "/metrics"} <= routes
    ingress = read("deploy/k8s/ingress-deployment.yaml")
    liveness = re.search(r"livenessProbe:\s*\n\s*httpGet:\s*\n\s*path: (\S+)", ingress)
    readiness = re.search(r"readinessProbe:\s*\n\s*httpGet:\s*\n\s*path: (\S+)", ingress)
    assert liveness
    assert liveness[1] == "/healthz"
    assert readiness
    assert readiness[1] == "/readyz"
    assert re.findall(r'prometheus\.io/path: "(\S+)"', ingress) == ["/metrics"]
    assert re.search(r"^  replicas: 2$", ingress, re.MULTILINE)


def test_workers_get_longer_to_stop_than_one_attempt_may_last():
    attempt_s = EVENT_TIME_LIMIT_MS / 1000
    manifest = read("deploy/k8s/worker-deployment.yaml")
    grace = re.search(r"terminationGracePeriodSeconds: (\d+)", manifest)
    assert grace
    assert int(grace[1]) > attempt_s
    compose_grace = re.search(r"stop_grace_period: (\d+)s", compose_services()["worker"])
    assert compose_grace
    assert int(compose_grace[1]) > attempt_s


def test_the_ingress_memory_limit_leaves_headroom_over_the_150_mb_target():
    manifest = read("deploy/k8s/ingress-deployment.yaml")
    limit = re.search(r"limits:\s*\n\s*memory: (\S+)", manifest)
    assert limit
    assert 150 * 10**6 < memory_bytes(limit[1]) <= 2 * 150 * 10**6


def test_the_ingress_service_and_disruption_budget_select_the_ingress_pods():
    deployment = read("deploy/k8s/ingress-deployment.yaml")
    pod_metadata = deployment.split("template:", 1)[1].split("spec:", 1)[0]
    pod_labels = set(re.findall(r"app\.kubernetes\.io/(\w+): (\S+)", pod_metadata))
    assert ("component", "ingress") in pod_labels
    for manifest in ("ingress-service.yaml", "ingress-pdb.yaml"):
        selector_text = read(f"deploy/k8s/{manifest}").split("selector:", 1)[1]
        selector = set(re.findall(r"app\.kubernetes\.io/(\w+): (\S+)", selector_text))
        assert ("component", "ingress") in selector, manifest
        assert selector <= pod_labels, manifest


# --- compose ---------------------------------------------------------------------------------


def test_compose_starts_the_services_only_after_the_migration_completed():
    services = compose_services()
    assert {
        "postgres",
        "redis",
        "migrate",
        "ingress",
        "worker",
        "scheduler",
        "prometheus",
    } <= services.keys()
    assert "image: postgres:16" in services["postgres"]
    assert "image: redis:7" in services["redis"]
    for name in ("ingress", "worker", "scheduler"):
        assert re.search(
            r"migrate:\s*\n\s*condition: service_completed_successfully", services[name]
        ), name
    prometheus = services["prometheus"]
    for file in ("prometheus.yml", "alerts.yml"):
        assert f"./prometheus/{file}:/etc/prometheus/{file}:ro" in prometheus
    assert "/etc/prometheus/alerts.yml" in read("deploy/prometheus/prometheus.yml")


# --- Grafana ---------------------------------------------------------------------------------


def test_the_dashboard_has_unique_panel_ids_and_reads_the_prometheus_variable():
    data = dashboard()
    assert 36 <= data["schemaVersion"] <= 41
    ids = [panel["id"] for panel in dashboard_panels()]
    assert len(ids) == len(set(ids)) >= 15
    variables = {v["name"]: v for v in data["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    assert variables["DS_PROMETHEUS"]["query"] == "prometheus"
    for panel in dashboard_panels():
        if panel["type"] == "row":
            continue
        assert panel["targets"], panel["title"]
        for holder in (panel, *panel["targets"]):
            assert holder["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]


def test_the_dashboard_shows_ingest_workers_backlog_dead_letters_and_tenants():
    expressions = "\n".join(dashboard_expressions())
    for needle in (
        "wapipe_webhooks_received_total",
        "histogram_quantile(0.5, sum by (le) (rate(wapipe_ingest_duration_seconds_bucket",
        "histogram_quantile(0.99, sum by (le) (rate(wapipe_ingest_duration_seconds_bucket",
        "wapipe_ingest_batch_size",
        "wapipe_enqueue_failures_total",
        "sum by (field, outcome) (rate(wapipe_events_total",
        "wapipe_event_duration_seconds_bucket",
        "wapipe_webhook_lag_seconds_bucket",
        "wapipe_backlog_events",
        "wapipe_backlog_oldest_seconds",
        "wapipe_dead_letters",
        "wapipe_dependency_up",
        "dramatiq_messages_inprogress",
        "dramatiq_message_retries_total",
        "dramatiq_message_rejects_total",
        "wapipe_tokens",
        "wapipe_orphan_connections",
    ):
        assert needle in expressions
