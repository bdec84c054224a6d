"""deploy/k8s: the instance config against Dagster's own schemas, the Helm values against it, and the run pod that
dagster-k8s builds (offline: no cluster, no API calls) from the registry-derived `dagster-k8s/config` tag."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from dagster._config import process_config, validate_config
from dagster._core.errors import DagsterInvalidConfigError
from dagster._core.instance.config import dagster_instance_config
from dagster._core.storage.dagster_run import DagsterRun
from dagster._serdes.config_class import class_from_code_pointer
from dagster_k8s import K8sRunLauncher
from dagster_k8s.job import USER_DEFINED_K8S_CONFIG_KEY, construct_dagster_k8s_job

from llmeval_assets.deploy import (
    DEPLOYMENT_ENV,
    GPU_TYPE_ENV,
    K8S_CONFIG_TAG,
    DeploymentError,
    k8s_run_config,
    run_tags,
)
from llmeval_assets.registry import UnknownNameError, load_registry
from tests.registry_edits import PROJECT_ROOT

K8S = PROJECT_ROOT / "deploy" / "k8s"
CONFIGURABLE_SECTIONS = ("run_storage", "event_log_storage", "schedule_storage", "run_launcher", "run_coordinator",
                         "scheduler")
# A kubeconfig for a cluster that is never contacted: K8sRunLauncher loads one when it is created.
OFFLINE_KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: offline, cluster: {server: "https://127.0.0.1:6443"}}]
users: [{name: offline, user: {token: offline}}]
contexts: [{name: offline, context: {cluster: offline, user: offline}}]
current-context: offline
"""


def instance_config(instance_dir: Path) -> dict[str, Any]:
    """Dagster's own loading of a dagster.yaml (its instance schema), then each configurable class's config against
    that class's schema, which the instance schema leaves open. Raises DagsterInvalidConfigError naming the class."""
    config, custom_instance_class = dagster_instance_config(str(instance_dir))
    assert custom_instance_class is None
    for section in CONFIGURABLE_SECTIONS:
        entry = config[section]
        configurable = class_from_code_pointer(entry["module"], entry["class"])
        result = validate_config(configurable.config_type(), entry.get("config") or {})
        if not result.success:
            raise DagsterInvalidConfigError(f"{section}: {entry['class']} config is invalid", result.errors,
                                            entry.get("config"))
    return dict(config)


@pytest.fixture(scope="module")
def instance() -> dict[str, Any]:
    return instance_config(K8S)


@pytest.fixture(scope="module")
def values() -> dict[str, Any]:
    return yaml.safe_load((K8S / "values.yaml").read_text())


@pytest.fixture(scope="module")
def user_deployment(values) -> dict[str, Any]:
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    return deployment


@pytest.fixture(scope="module")
def registry():
    return load_registry()


# ------------------------------------------------------------------------------------------------ dagster.yaml


def test_instance_config_is_valid_for_dagster_and_its_classes(instance):
    assert instance["run_launcher"]["module"] == "dagster_k8s"
    assert class_from_code_pointer("dagster_k8s", "K8sRunLauncher") is K8sRunLauncher
    assert {instance[s]["module"] for s in ("run_storage", "event_log_storage", "schedule_storage")} == {
        "dagster_postgres.run_storage", "dagster_postgres.event_log", "dagster_postgres.schedule_storage"}
    assert instance["concurrency"]["runs"]["tag_concurrency_limits"] == [{"key": "gpu", "limit": 2}]
    assert instance["concurrency"]["pools"] == {"default_limit": 1}


@pytest.mark.parametrize("section, key", [("run_launcher", "job_namespce"), ("run_storage", "postgres_database")])
def test_a_typo_inside_a_class_config_is_caught(tmp_path, section, key):
    doc = yaml.safe_load((K8S / "dagster.yaml").read_text())
    doc[section]["config"][key] = "x"
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(doc))
    with pytest.raises(DagsterInvalidConfigError, match=f"{section}: .* config is invalid"):
        instance_config(tmp_path)


def test_a_typo_at_the_top_level_is_caught(tmp_path):
    text = (K8S / "dagster.yaml").read_text().replace("run_monitoring:", "run_monitorng:")
    (tmp_path / "dagster.yaml").write_text(text)
    with pytest.raises(DagsterInvalidConfigError, match="run_monitorng"):
        instance_config(tmp_path)


# ------------------------------------------------------------------------------------ values.yaml and pvc.yaml


def test_helm_values_run_the_llmeval_code_location(user_deployment):
    assert user_deployment["dagsterApiGrpcArgs"] == ["-m", "llmeval_assets.definitions"]
    assert importlib.util.find_spec("llmeval_assets.definitions") is not None
    assert user_deployment["includeConfigInLaunchedRuns"] == {"enabled": True}
    assert user_deployment["envSecrets"] == [{"name": "llmeval-hf-token"}]


def test_helm_values_agree_with_the_instance_config(values, user_deployment, instance):
    launcher = instance["run_launcher"]["config"]
    env = {e["name"]: e["value"] for e in user_deployment["env"]}
    assert env == dict(v.split("=", 1) for v in launcher["env_vars"])
    assert env[DEPLOYMENT_ENV] == "k8s"
    assert user_deployment["volumes"] == launcher["volumes"]
    assert user_deployment["volumeMounts"] == launcher["volume_mounts"]
    assert [s["name"] for s in user_deployment["envSecrets"]] == launcher["env_secrets"]

    k8s_launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    assert k8s_launcher["jobNamespace"] == launcher["job_namespace"]
    assert k8s_launcher["runK8sConfig"]["containerConfig"] == launcher["run_k8s_config"]["container_config"]

    runs, pools = values["concurrency"]["runs"], values["concurrency"]["pools"]
    assert values["concurrency"]["enabled"] is True
    assert {"max_concurrent_runs": runs["maxConcurrentRuns"], "tag_concurrency_limits": runs["tagConcurrencyLimits"]} \
        == instance["concurrency"]["runs"]
    assert {"default_limit": pools["defaultLimit"]} == instance["concurrency"]["pools"]
    # The chart refuses run-queue limits in both places; they live in `concurrency`.
    coordinator = values["dagsterDaemon"]["runCoordinator"]
    assert coordinator["type"] == "QueuedRunCoordinator" and "config" not in coordinator

    postgres = instance["run_storage"]["config"]["postgres_db"]
    assert (values["postgresql"]["postgresqlUsername"], values["postgresql"]["postgresqlDatabase"]) == (
        postgres["username"], postgres["db_name"])


def test_the_shared_volume_is_the_claim_every_pod_mounts(instance):
    pvc = yaml.safe_load((K8S / "pvc.yaml").read_text())
    assert pvc["kind"] == "PersistentVolumeClaim" and pvc["spec"]["accessModes"] == ["ReadWriteMany"]
    assert pvc["metadata"]["namespace"] == instance["run_launcher"]["config"]["job_namespace"]
    (volume,) = instance["run_launcher"]["config"]["volumes"]
    assert volume["persistentVolumeClaim"]["claimName"] == pvc["metadata"]["name"]


# ---------------------------------------------------------------------------------------------- the GPU request


def test_gpu_request_is_the_models_tensor_parallel_size(registry):
    for model, gpus in (("llama31_70b", "4"), ("smollm2_135m", "1")):
        resources = k8s_run_config(registry, model)["container_config"]["resources"]
        assert resources["requests"]["nvidia.com/gpu"] == resources["limits"]["nvidia.com/gpu"] == gpus
        assert registry.models[model].tensor_parallel_size == int(gpus)


def test_api_models_get_no_gpu(registry):
    config = k8s_run_config(registry, "claude_sonnet")
    assert "nvidia.com/gpu" not in config["container_config"]["resources"]["requests"]
    assert "pod_spec_config" not in config


def test_a_gpu_type_the_model_does_not_fit_is_refused(registry):
    with pytest.raises(DeploymentError, match=r"^llama31_70b does not fit on A100-40GB: weights need 141\.2 GB .* use "
                                              r"tensor_parallel_size >= 8$"):
        k8s_run_config(registry, "llama31_70b", gpu_type="A100-40GB")
    with pytest.raises(UnknownNameError, match="unknown GPU type 'B200'; known: H100-80GB, H200-141GB"):
        k8s_run_config(registry, "llama31_70b", gpu_type="B200")


def test_run_tags_follow_the_deployment(registry, monkeypatch):
    monkeypatch.delenv(DEPLOYMENT_ENV, raising=False)
    assert run_tags(registry, "smollm2_135m") == {}
    monkeypatch.setenv(DEPLOYMENT_ENV, "k8s")
    monkeypatch.setenv(GPU_TYPE_ENV, "L40S-48GB")
    assert json.loads(run_tags(registry, "smollm2_135m")[K8S_CONFIG_TAG]) == k8s_run_config(
        registry, "smollm2_135m", gpu_type="L40S-48GB")
    monkeypatch.setenv(DEPLOYMENT_ENV, "swarm")
    with pytest.raises(DeploymentError, match=r"^\$LLMEVAL_DEPLOYMENT='swarm' is not a deployment llmeval knows; use "
                                              r"local or k8s$"):
        run_tags(registry, "smollm2_135m")


def test_the_sensors_run_request_carries_the_pod_config(registry, monkeypatch):
    from llmeval_assets.defs.automation import model_run_request
    from llmeval_assets.evaluation import PartitionStatus

    monkeypatch.setenv(DEPLOYMENT_ENV, "k8s")
    monkeypatch.delenv(GPU_TYPE_ENV, raising=False)
    request = model_run_request(registry, "llama31_70b", [PartitionStatus("llama31_70b", "gsm8k", "missing")], "t")
    assert request.tags["gpu"] == "1"
    assert json.loads(request.tags[K8S_CONFIG_TAG]) == k8s_run_config(registry, "llama31_70b")


# ------------------------------------------------------------------------------ the pod dagster-k8s builds


@pytest.fixture(scope="module")
def launcher(instance, tmp_path_factory) -> K8sRunLauncher:
    """The K8sRunLauncher of deploy/k8s/dagster.yaml, built as the instance builds it, pointed at an offline
    kubeconfig instead of the in-cluster one."""
    kubeconfig = tmp_path_factory.mktemp("kube") / "config"
    kubeconfig.write_text(OFFLINE_KUBECONFIG)
    config = {**instance["run_launcher"]["config"], "load_incluster_config": False,
              "kubeconfig_file": str(kubeconfig)}
    processed = process_config(K8sRunLauncher.config_type(), config)
    assert processed.success, processed.errors
    return K8sRunLauncher.from_config_value(None, processed.value)


def run_pod_spec(launcher: K8sRunLauncher, tags: dict[str, str]):
    """What K8sRunLauncher._launch_k8s_job_with_args builds for a run with these tags, short of creating it."""
    run = DagsterRun(job_name="evaluate_model", run_id="0f1e2d3c-0000-4000-8000-000000000000", tags=tags)
    context = launcher.get_container_context_for_run(run)
    job = construct_dagster_k8s_job(
        job_config=context.get_k8s_job_config(job_image="ghcr.io/your-org/llmeval:0.1.0", run_launcher=launcher),
        args=["dagster", "api", "execute_run"], job_name="dagster-run-0f1e2d3c", component="run_worker",
        user_defined_k8s_config=context.run_k8s_config)
    return job.spec.template.spec


@pytest.mark.parametrize("model, gpus, memory", [("llama31_70b", "4", "164Gi"), ("smollm2_135m", "1", "33Gi")])
def test_dagster_k8s_builds_the_gpu_pod_from_the_run_tags(launcher, registry, monkeypatch, model, gpus, memory):
    monkeypatch.setenv(DEPLOYMENT_ENV, "k8s")
    monkeypatch.delenv(GPU_TYPE_ENV, raising=False)
    assert K8S_CONFIG_TAG == USER_DEFINED_K8S_CONFIG_KEY
    spec = run_pod_spec(launcher, {"gpu": "1", **run_tags(registry, model)})
    (container,) = spec.containers
    assert container.resources.requests == {"cpu": str(4 * int(gpus)), "memory": memory, "nvidia.com/gpu": gpus}
    # the tag's limits replace the launcher's default 8Gi memory limit
    assert container.resources.limits == {"memory": f"{2 * int(memory[:-2])}Gi", "nvidia.com/gpu": gpus}
    assert spec.node_selector == {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}
    [toleration] = spec.tolerations
    assert (toleration.key, toleration.operator, toleration.effect) == ("nvidia.com/gpu", "Exists", "NoSchedule")
    # the shared volume (launcher) and the memory-backed /dev/shm (tag) are both mounted
    assert {(m.name, m.mount_path) for m in container.volume_mounts} == {("llmeval-data", "/data"),
                                                                          ("dshm", "/dev/shm")}
    volumes = {v.name: v for v in spec.volumes}
    assert volumes["llmeval-data"].persistent_volume_claim.claim_name == "llmeval-data"
    assert volumes["dshm"].empty_dir.medium == "Memory"
    env = {e.name: e.value for e in container.env}
    assert env[DEPLOYMENT_ENV] == "k8s" and env["HF_HOME"] == "/data/huggingface"
    assert [source.secret_ref.name for source in container.env_from] == ["llmeval-hf-token"]


def test_runs_without_the_tag_get_the_cpu_default(launcher):
    spec = run_pod_spec(launcher, {})
    (container,) = spec.containers
    assert container.resources.requests == {"cpu": "1", "memory": "4Gi"}
    assert container.resources.limits == {"memory": "8Gi"}
    assert not spec.node_selector and not spec.tolerations


# --------------------------------------------------------------------------------------------------------- CLI


def test_cli_prints_the_run_tag(registry):
    llmeval = [str(Path(sys.executable).with_name("llmeval")), "deploy", "k8s-config"]
    env = {k: v for k, v in os.environ.items() if k != DEPLOYMENT_ENV}
    done = subprocess.run([*llmeval, "--model", "llama31_70b", "--gpu", "H200-141GB"], capture_output=True,
                          text=True, env=env, check=True)
    assert json.loads(done.stdout) == {K8S_CONFIG_TAG: k8s_run_config(registry, "llama31_70b", "H200-141GB")}
    failed = subprocess.run([*llmeval, "--model", "llama31_70"], capture_output=True, text=True, env=env)
    assert failed.returncode == 2
    assert "unknown model 'llama31_70' (did you mean 'llama31_70b'" in failed.stderr
