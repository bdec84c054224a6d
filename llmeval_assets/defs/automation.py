"""What runs by itself: a sensor that registers every registry model as a partition and requests one run per model
for exactly its stale or missing valid pairs, a nightly schedule that does the same (and retries failed work), and
a sensor that refreshes the DuckDB tables and dbt reports after evaluation runs.

One run per model is deliberate: Dagster's own backfills group by asset, which would load a 70B model once per
dataset (dagster_findings.md §1.4 and pitfall 1)."""


import dagster as dg

from llmeval_assets.defs.evaluation import predictions_key, scores_key
from llmeval_assets.defs.partitions import models_partitions
from llmeval_assets.defs.resources import ResultsStore
from llmeval_assets.defs.weights import model_weights
from llmeval_assets.deploy import run_tags
from llmeval_assets.engine.requests import stable_hash
from llmeval_assets.evaluation import PartitionStatus, stale_work
from llmeval_assets.profiles import ProfileChoice
from llmeval_assets.registry import Registry, RegistryError
from llmeval_assets.storage.lake import ResultsLake

GPU_TAG = {"gpu": "1"}  # the run queue limits concurrent runs with this tag (dagster.yaml)
EVALUATE_JOB, SNAPSHOT_JOB, REPORTS_JOB = "evaluate_model", "snapshot_datasets", "refresh_reports"


def model_run_request(registry: Registry, model: str, work: list[PartitionStatus], run_key_prefix: str,
                      profile: ProfileChoice = ProfileChoice()) -> dg.RunRequest:
    datasets = sorted(s.dataset for s in work)
    selection = [model_weights.key, *(predictions_key(d) for d in datasets), *(scores_key(d) for d in datasets)]
    fingerprint = stable_hash([s.as_dict() for s in sorted(work, key=lambda s: s.dataset)])[:12]
    profiles = sorted({s.profile for s in work})
    return dg.RunRequest(
        run_key=f"{run_key_prefix}:{model}:{fingerprint}", job_name=EVALUATE_JOB, partition_key=model,
        asset_selection=selection,
        run_config={"ops": {op: {"config": profile.as_config_fields()} for op in ("predictions", "scores")}},
        tags={**GPU_TAG, **run_tags(registry, model), "llmeval/model": model,
              "llmeval/datasets": ",".join(datasets), "llmeval/profile": ",".join(profiles)})


def missing_snapshots(registry: Registry, lake: ResultsLake, datasets: set[str]) -> list[str]:
    return sorted(d for d in datasets if lake.current_snapshot(d) is None)


def evaluation_requests(registry: Registry, lake: ResultsLake, run_key_prefix: str) -> list[dg.RunRequest]:
    """Snapshot runs for datasets that have none yet; otherwise one run per model with stale or missing pairs."""
    work = stale_work(registry, lake)
    needed = {s.dataset for statuses in work.values() for s in statuses}
    snapshots = missing_snapshots(registry, lake, needed)
    if snapshots:  # model runs read the snapshots: take them first, the next evaluation requests the models
        return [dg.RunRequest(run_key=f"{run_key_prefix}:snapshots:{','.join(snapshots)}", job_name=SNAPSHOT_JOB,
                              asset_selection=[dg.AssetKey(f"dataset_{d}") for d in snapshots])]
    return [model_run_request(registry, model, statuses, run_key_prefix) for model, statuses in sorted(work.items())]


def evaluable_models(registry: Registry) -> list[str]:
    return sorted({p.model for p in registry.pairs() if registry.datasets[p.dataset].supported})


def build_automation(evaluate_model: dg.JobDefinition, snapshot_datasets: dg.JobDefinition,
                     refresh_reports: dg.JobDefinition) -> tuple[list, list]:
    @dg.sensor(jobs=[evaluate_model, snapshot_datasets], minimum_interval_seconds=60,
               default_status=dg.DefaultSensorStatus.RUNNING,
               description="Adds a partition for every registry model and requests one run per model for its "
                           "stale or missing (model, dataset) pairs")
    def registry_sensor(context: dg.SensorEvaluationContext, store: ResultsStore):
        try:
            registry = store.registry()
        except RegistryError as exc:
            return dg.SkipReason(f"registry is invalid, nothing scheduled:\n{exc}")
        known = set(context.instance.get_dynamic_partitions(models_partitions.name))
        new = [m for m in evaluable_models(registry) if m not in known]
        requests = evaluation_requests(registry, store.lake, run_key_prefix=registry.digest[:12])
        if not requests and not new:
            return dg.SkipReason("every valid (model, dataset) pair is fresh")
        return dg.SensorResult(
            run_requests=requests,
            dynamic_partitions_requests=[models_partitions.build_add_request(new)] if new else [])

    @dg.schedule(cron_schedule="0 3 * * *", job=evaluate_model, default_status=dg.DefaultScheduleStatus.STOPPED,
                 description="Nightly: materialize whatever is stale or missing (also retries failed work)")
    def nightly_refresh(context: dg.ScheduleEvaluationContext, store: ResultsStore):
        registry = store.registry()
        day = context.scheduled_execution_time.strftime("%Y-%m-%d")
        requests = [r for r in evaluation_requests(registry, store.lake, run_key_prefix=f"nightly-{day}")
                    if r.partition_key is not None]
        return requests or dg.SkipReason("every valid (model, dataset) pair is fresh")

    @dg.run_status_sensor(run_status=dg.DagsterRunStatus.SUCCESS, monitored_jobs=[evaluate_model],
                          request_job=refresh_reports, default_status=dg.DefaultSensorStatus.RUNNING,
                          description="Rebuild the DuckDB tables and dbt reports after each evaluation run")
    def refresh_reports_after_evaluation(context: dg.RunStatusSensorContext):
        return dg.RunRequest(run_key=f"reports-after-{context.dagster_run.run_id}")

    return [registry_sensor, refresh_reports_after_evaluation], [nightly_refresh]
