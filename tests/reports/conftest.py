"""A results database for the dbt reports: the real table shapes (the lake schemas of llmeval_assets.storage and
the registry tables built from the project's registry/) filled with hand-made results whose marts are easy to
compute by hand.

Two registry models: mixtral_8x7b (mixture of experts, 46.7B parameters, 12.9B active) and qwen25_7b (dense).
mixtral was evaluated on mmlu (two subjects), gsm8k (twice: an older spec, then the current one) and mt_bench
(1..10 judge scores in two categories); qwen25_7b on gsm8k. Every result is under the `default` profile but
mixtral's mmlu, which also has a result under `lm_eval` (another variant: never averaged or ranked with the other).
Metrics, intervals and per-group rows are computed by scoring.stats as scoring does (the marts show them, they
never recompute them)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from llmeval_assets.registry import load_registry
from llmeval_assets.scoring.stats import interval_95, mean_stderr
from llmeval_assets.storage.lake import TABLES
from llmeval_assets.storage.warehouse import SCHEMA, results_tables

MOE, DENSE = "mixtral_8x7b", "qwen25_7b"
GSM8K_OLD_SPEC, GSM8K_SPEC = "gsm8k-spec-old", "gsm8k-spec-new"
MT_BENCH_JUDGE = "llama31_70b max_tokens=1024"  # what the partition records (evaluation.JudgeChoice.describe)
SPECS = {(MOE, "mmlu", "default"): "mmlu-spec", (MOE, "mmlu", "lm_eval"): "mmlu-lm-eval-spec",
         (MOE, "gsm8k", "default"): GSM8K_SPEC, (MOE, "mt_bench", "default"): "mt-bench-spec",
         (DENSE, "gsm8k", "default"): GSM8K_SPEC}
# how each dataset's results were evaluated: (variant, num_fewshot, chat template, reference) per profile
EVALUATED = {("mmlu", "default"): ("chat_5shot", 5, True, "Llama 3.1 model card (lm-eval mmlu_llama)"),
             ("mmlu", "lm_eval"): ("0shot", 0, False, "lm-evaluation-harness mmlu"),
             ("gsm8k", "default"): ("chat_8shot", 8, True, "Llama 3.1 model card (lm-eval gsm8k_cot_llama)"),
             ("mt_bench", "default"): ("default", 0, True, "FastChat llm_judge MT-Bench, single-answer grading")}

# item scores of each evaluated (model, dataset, spec): {item_group: [primary metric value per item]}
ITEM_SCORES = {
    (MOE, "mmlu", "mmlu-spec"): {"abstract_algebra": [1, 1, 0, 1], "anatomy": [1, 0, 0, 0]},  # 4/8 = 0.5
    (MOE, "mmlu", "mmlu-lm-eval-spec"): {"abstract_algebra": [1, 1, 1, 1], "anatomy": [1, 1, 0, 0]},  # 0.75
    (MOE, "gsm8k", GSM8K_OLD_SPEC): {None: [1, 1, 1, 0]},  # 0.75: superseded, must not show
    (MOE, "gsm8k", GSM8K_SPEC): {None: [1, 0, 1, 0]},  # 0.5
    (MOE, "mt_bench", "mt-bench-spec"): {"writing": [8.0, 7.0], "math": [6.0, 8.2]},  # 7.3 on 1..10
    (DENSE, "gsm8k", GSM8K_SPEC): {None: [1, 0, 0, 0]},  # 0.25
}
# metric ranges come from the benchmarks (mt_bench's score is 1..10), as in the real results tables
PRIMARY_METRIC = {"mmlu": "acc", "gsm8k": "exact_match", "mt_bench": "score"}
TOKENS_PER_ITEM = {"mmlu": (500, 0), "gsm8k": (900, 150), "mt_bench": (700, 400)}  # (prompt, output)
RUN_OF = {(MOE, GSM8K_OLD_SPEC): "run-moe-old", (MOE, "mmlu-spec"): "run-moe", (MOE, GSM8K_SPEC): "run-moe",
          (MOE, "mmlu-lm-eval-spec"): "run-moe-lm-eval",
          (MOE, "mt-bench-spec"): "run-moe", (DENSE, GSM8K_SPEC): "run-dense"}
# run_id -> (model, datasets, tensor_parallel_size, wall_s, engine_load_s, inference_s, gpu_seconds)
RUNS = {
    "run-moe-old": (MOE, ["gsm8k"], 2, 80.0, 20.0, 25.0, 90.0),
    "run-moe": (MOE, ["mmlu", "gsm8k", "mt_bench"], 2, 300.0, 60.0, 110.0, 340.0),
    "run-dense": (DENSE, ["gsm8k"], 1, 40.0, 10.0, 20.0, 30.0),
    "run-moe-lm-eval": (MOE, ["mmlu"], 2, 50.0, 20.0, 10.0, 100.0),
}
PROFILE_OF_SPEC = {"mmlu-lm-eval-spec": "lm_eval"}


def _at(hour: int) -> datetime:
    return datetime(2025, 6, 1, hour, tzinfo=UTC)


def _items(model: str, dataset: str, spec: str):
    for group, values in ITEM_SCORES[(model, dataset, spec)].items():
        for index, value in enumerate(values):
            yield f"{group or dataset}-{index}", group, value


def metric_row(model: str, dataset: str, spec: str, metric: str, values: list[float], group: str | None = None,
               is_primary: bool = False, value_max: float = 1.0) -> dict:
    estimate = mean_stderr(values)
    low, high = interval_95(values, estimate.mean, estimate.stderr, 0.0 if value_max == 1.0 else 1.0, value_max)
    return {"model": model, "dataset": dataset, "profile": PROFILE_OF_SPEC.get(spec, "default"), "spec_hash": spec,
            "metric": metric, "item_group": group, "value": estimate.mean, "stderr": estimate.stderr,
            "ci_low": low, "ci_high": high, "n": len(values), "n_clusters": None, "is_primary": is_primary}


def fixture_rows() -> dict[str, list[dict]]:
    rows: dict[str, list[dict]] = {table: [] for table in TABLES}
    for (model, dataset, spec), groups in ITEM_SCORES.items():
        metric = PRIMARY_METRIC[dataset]
        run_id = RUN_OF[(model, spec)]
        tokens_in, tokens_out = TOKENS_PER_ITEM[dataset]
        values = [value for group_values in groups.values() for value in group_values]
        profile = PROFILE_OF_SPEC.get(spec, "default")
        for item_id, group, value in _items(model, dataset, spec):
            rows["predictions"].append({
                "model": model, "dataset": dataset, "profile": profile, "spec_hash": spec, "item_id": item_id,
                "item_group": group,
                "prompt_hash": f"p-{item_id}", "outputs": ["The answer is 42."], "finish_reasons": ["stop"],
                "tokens_in": tokens_in, "tokens_out": tokens_out, "latency_s": 1.5, "run_id": run_id,
                "weights_revision": f"rev-{model}", "created_at": _at(1)})
            rows["sample_scores"].append({
                "model": model, "dataset": dataset, "profile": profile, "spec_hash": spec, "item_id": item_id,
                "item_group": group,
                "metric": metric, "value": float(value), "answer": "42", "target": "42", "unanswered": False})
        top = 10.0 if dataset == "mt_bench" else 1.0
        rows["metrics"].append(metric_row(model, dataset, spec, metric, values, is_primary=True, value_max=top))
        if len(groups) > 1:  # per-group rows, as Benchmark.summarize stores them
            rows["metrics"] += [metric_row(model, dataset, spec, metric, group_values, group=group, value_max=top)
                                for group, group_values in groups.items()]
        if dataset == "gsm8k":  # a secondary metric, which the leaderboard must not show
            rows["metrics"].append(metric_row(model, dataset, spec, "strict_match", [0.0] * len(values)))
    for (model, dataset, profile), spec in SPECS.items():
        variant, shots, chat, reference = EVALUATED[(dataset, profile)]
        rows["partitions"].append({
            "model": model, "dataset": dataset, "profile": profile, "profile_label": profile, "variant": variant,
            "num_fewshot": shots, "chat_template": chat, "reference": reference,
            "primary_metric": PRIMARY_METRIC[dataset],
            "benchmark": dataset, "spec_hash": spec, "dataset_version": f"snap-{dataset}",
            "weights_revision": f"rev-{model}", "samples": sum(map(len, ITEM_SCORES[(model, dataset, spec)].values())),
            "run_id": RUN_OF[(model, spec)], "materialized_at": _at(12),
            "judge": MT_BENCH_JUDGE if dataset == "mt_bench" else ""})
    for run_id, (model, datasets, tp, wall_s, load_s, inference_s, gpu_seconds) in RUNS.items():
        produced = [p for p in rows["predictions"] if p["run_id"] == run_id]
        rows["runs"].append({
            "run_id": run_id, "model": model, "datasets": datasets,
            "profile": "lm_eval" if run_id == "run-moe-lm-eval" else "default", "started_at": _at(2),
            "finished_at": _at(3),
            "wall_s": wall_s, "engine_load_s": load_s, "inference_s": inference_s, "gpu_seconds": gpu_seconds,
            "tensor_parallel_size": tp, "backend": "vllm", "backend_version": "0.11.0", "engine_args": "{}",
            "tokens_in": sum(p["tokens_in"] for p in produced), "tokens_out": sum(p["tokens_out"] for p in produced),
            "samples": len(produced), "device": "NVIDIA H100 80GB"})
    return rows


def fixture_tables() -> dict[str, pa.Table]:
    """Every evals.* table: the results above plus the registry's models and categories."""
    lake_tables = {name: pa.Table.from_pylist(rows, schema=TABLES[name]) for name, rows in fixture_rows().items()}
    return results_tables(lake_tables, load_registry())


def write_table(duckdb_path: Path, name: str, table: pa.Table) -> None:
    with duckdb.connect(str(duckdb_path)) as con:
        con.execute(f"create schema if not exists {SCHEMA}")
        con.register("incoming", table)
        con.execute(f"create or replace table {SCHEMA}.{name} as select * from incoming")


def write_results_duckdb(path: Path) -> Path:
    for name, table in fixture_tables().items():
        write_table(path, name, table)
    return path
