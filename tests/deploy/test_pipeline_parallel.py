"""pipeline_parallel_size: registry rules (exact messages), engine settings and vLLM arguments, the GPU count of a
run, and the Ray cluster example's capacity."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from llmeval_assets.deploy import DeploymentError, k8s_run_config, model_gpus
from llmeval_assets.engine.vllm_engine import vllm_engine_args
from llmeval_assets.engine.weights import Checkpoint
from llmeval_assets.registry import load_registry
from tests.registry_edits import PROJECT_ROOT, edit, problems

RAY_CLUSTER = PROJECT_ROOT / "deploy" / "ray" / "raycluster.yaml"
CHECKPOINT = Checkpoint(model_key="llama31_405b", path=Path("/data/huggingface/llama31_405b"), revision="abc",
                        source="hub")


def test_a_model_spanning_two_nodes_validates(reg_dir):
    reg = load_registry(reg_dir)
    assert reg.models["llama31_405b"].pipeline_parallel_size == 2
    assert ("models.yaml: llama31_405b: in no category (add it to one to evaluate it: categories choose its "
            "datasets)") in reg.warnings
    assert model_gpus(reg, "llama31_405b") == 16


def test_pipeline_parallel_defaults_to_one_for_every_shipped_model():
    reg = load_registry()
    assert {m.pipeline_parallel_size for m in reg.models.values()} == {1}
    assert reg.engine_settings("llama31_70b").pipeline_parallel_size == 1


def test_too_big_for_one_node_advises_pipeline_parallel(reg_dir):
    edit(reg_dir, "models.yaml", lambda d: d["models"]["llama31_405b"].update(pipeline_parallel_size=1))
    assert problems(reg_dir) == [
        "models.yaml: llama31_405b.tensor_parallel_size: weights need 811.8 GB (405.9B params x 2 bytes, bfloat16) "
        "but 8 x H100-80GB at gpu_memory_utilization 0.90 leaves 560.0 GB (2 GB runtime overhead per GPU); it does "
        "not fit on one node: quantize it, or spread it over 2 nodes with tensor_parallel_size 8 and "
        "pipeline_parallel_size 2 (vLLM on Ray, see deploy/ray/README.md)"]


def test_fit_counts_tensor_times_pipeline_gpus(reg_dir):
    # 4 x 2 = 8 H100s leave 560 GB: still short of 811.8 GB, and no single node holds it.
    edit(reg_dir, "models.yaml", lambda d: d["models"]["llama31_405b"].update(tensor_parallel_size=4))
    assert problems(reg_dir) == [
        "models.yaml: llama31_405b.tensor_parallel_size: weights need 811.8 GB (405.9B params x 2 bytes, bfloat16) "
        "but 8 x H100-80GB (tensor_parallel_size 4 x pipeline_parallel_size 2) at gpu_memory_utilization 0.90 "
        "leaves 560.0 GB (2 GB runtime overhead per GPU); it does not fit on one node: quantize it, or spread it "
        "over 2 nodes with tensor_parallel_size 8 and pipeline_parallel_size 2 (vLLM on Ray, see "
        "deploy/ray/README.md)"]


def test_pipeline_stages_that_fit_one_node_advise_tensor_parallel(reg_dir):
    # 1 x 2 H100s leave 140 GB for 141.2 GB; tensor parallelism over 4 GPUs of one node is the better layout.
    edit(reg_dir, "models.yaml",
         lambda d: d["models"]["llama31_70b"].update(tensor_parallel_size=1, pipeline_parallel_size=2))
    assert problems(reg_dir) == [
        "models.yaml: llama31_70b.tensor_parallel_size: weights need 141.2 GB (70.6B params x 2 bytes, bfloat16) "
        "but 2 x H100-80GB (tensor_parallel_size 1 x pipeline_parallel_size 2) at gpu_memory_utilization 0.90 "
        "leaves 140.0 GB (2 GB runtime overhead per GPU); use tensor_parallel_size >= 4 and pipeline_parallel_size "
        "1 (it fits on one node)"]


def test_tensor_parallel_stays_within_one_node_even_with_pipeline_stages(reg_dir):
    edit(reg_dir, "models.yaml", lambda d: d["models"]["llama31_405b"].update(tensor_parallel_size=16,
                                                                                pipeline_parallel_size=1))
    assert problems(reg_dir) == [
        "models.yaml: llama31_405b.tensor_parallel_size: 16 exceeds the 8 GPUs of one H100-80GB node"]


def test_pipeline_parallel_size_must_be_positive(reg_dir):
    edit(reg_dir, "models.yaml", lambda d: d["models"]["llama31_405b"].update(pipeline_parallel_size=0))
    [message] = problems(reg_dir)
    assert message.startswith("models.yaml: llama31_405b.pipeline_parallel_size: ")
    assert "greater than 0" in message


def test_engine_args_carry_pipeline_parallel_and_the_ray_backend(reg_dir):
    settings = load_registry(reg_dir).engine_settings("llama31_405b")
    args = vllm_engine_args(settings, CHECKPOINT)
    assert (args["tensor_parallel_size"], args["pipeline_parallel_size"]) == (8, 2)
    assert args["distributed_executor_backend"] == "ray"


def test_vllm_knows_every_engine_argument(reg_dir):
    # vllm.LLM(**args) hands them to EngineArgs; checked on its fields because starting Ray needs GPUs.
    import dataclasses

    from vllm.engine.arg_utils import EngineArgs

    args = vllm_engine_args(load_registry(reg_dir).engine_settings("llama31_405b"), CHECKPOINT)
    assert set(args) <= {field.name for field in dataclasses.fields(EngineArgs)}


def test_single_stage_engine_args_are_unchanged():
    # Provenance records the engine args: models without pipeline stages keep exactly their previous arguments.
    args = vllm_engine_args(load_registry().engine_settings("llama31_70b"), CHECKPOINT)
    assert "pipeline_parallel_size" not in args and "distributed_executor_backend" not in args


def test_a_multi_node_model_gets_no_run_pod(reg_dir):
    with pytest.raises(DeploymentError) as info:
        k8s_run_config(load_registry(reg_dir), "llama31_405b")
    assert str(info.value) == (
        "llama31_405b needs 16 GPUs (tensor_parallel_size 8 x pipeline_parallel_size 2), more than one H100-80GB "
        "node has (8): one run pod cannot hold it; evaluate it on a Ray cluster instead (deploy/ray/README.md)")


def test_pipeline_stages_within_one_node_get_all_their_gpus(reg_dir):
    # On H200-141GB (8 per node, 124.9 GB usable each) TP 4 x PP 2 is 8 GPUs: one pod holds every stage.
    edit(reg_dir, "models.yaml", lambda d: d["models"]["llama31_405b"].update(tensor_parallel_size=4))
    edit(reg_dir, "hardware.yaml", lambda d: d["hardware"].update(default_gpu="H200-141GB"))
    config = k8s_run_config(load_registry(reg_dir), "llama31_405b")
    assert config["container_config"]["resources"]["requests"]["nvidia.com/gpu"] == "8"
    assert config["container_config"]["resources"]["limits"]["nvidia.com/gpu"] == "8"
    assert config["pod_spec_config"]["node_selector"] == {"nvidia.com/gpu.product": "NVIDIA-H200"}


def _group_gpus(group: dict) -> int:
    (container,) = group["template"]["spec"]["containers"]
    return int(container["resources"]["limits"]["nvidia.com/gpu"])


def test_the_ray_cluster_example_holds_the_two_node_model(reg_dir):
    cluster = yaml.safe_load(RAY_CLUSTER.read_text())
    assert (cluster["apiVersion"], cluster["kind"]) == ("ray.io/v1", "RayCluster")
    head = cluster["spec"]["headGroupSpec"]
    workers = cluster["spec"]["workerGroupSpecs"]
    model = load_registry(reg_dir).models["llama31_405b"]
    # vLLM's Ray executor needs a GPU on the node that starts the engine (where `llmeval evaluate` runs).
    assert _group_gpus(head) >= 1
    nodes = [_group_gpus(head)] + [_group_gpus(w) for w in workers for _ in range(w["replicas"])]
    assert min(nodes) >= model.tensor_parallel_size  # a tensor-parallel group never spans nodes
    assert sum(nodes) >= model.tensor_parallel_size * model.pipeline_parallel_size
    for group in [head, *workers]:
        (container,) = group["template"]["spec"]["containers"]
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        volumes = {v["name"]: v for v in group["template"]["spec"]["volumes"]}
        assert volumes[mounts["/data"]]["persistentVolumeClaim"]["claimName"] == "llmeval-data"
        assert volumes[mounts["/dev/shm"]]["emptyDir"]["medium"] == "Memory"
        env = {e["name"] for e in container["env"]}
        assert {"HF_HOME", "LLMEVAL_HOME"} <= env and "LLMEVAL_DEPLOYMENT" not in env
