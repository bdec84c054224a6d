"""What runs by itself: a sensor that registers every registry model as a partition and requests one run per model
for the stale or missing valid pairs of models added to the registry or changed in it, a nightly schedule
(stopped by default) that requests whatever is stale (and retries failed work), and a sensor that refreshes the
DuckDB tables and dbt reports after evaluation runs.

The registry sensor never evaluates the registry it first finds: its first tick stores a baseline (each model's
registry fingerprint) in its cursor and schedules nothing, so opening the UI on a registry of 57 models does not
start 57 evaluations (days of GPU time on a cluster, failed runs on a machine without hub access). What is stale
then is listed in its skip reason and in `llmeval plan`, and runs when asked. A model whose weights are neither
here nor downloadable is reported as blocked (skip reason and a `model_weights` observation), not launched. How many
samples automatic runs request is registry/automation.yaml's `samples`, shown in the sensor's description.

One run per model is deliberate: Dagster's own backfills group by asset, which would load a 70B model once per
dataset (dagster_findings.md §1.4 and pitfall 1)."""

import json

import dagster as dg

from llmeval_assets.defs.evaluation import predictions_key, scores_key
from llmeval_assets.defs.partitions import models_partitions
from llmeval_assets.defs.resources import ResultsStore
from llmeval_assets.defs.weights import model_weights
from llmeval_assets.deploy import run_tags
from llmeval_assets.engine.requests import stable_hash
from llmeval_assets.engine.weights import blocked_models
from llmeval_assets.evaluation import PartitionStatus, stale_work
from llmeval_assets.profiles import ProfileChoice
from llmeval_assets.registry import Registry, RegistryError
from llmeval_assets.registry.schema import AutomationEntry
from llmeval_assets.storage.lake import ResultsLake

GPU_TAG = {"gpu": "1"}  # the run queue limits concurrent runs with this tag (dagster.yaml)
SAMPLES_TAG = "llmeval/samples"
EVALUATE_JOB, SNAPSHOT_JOB, REPORTS_JOB = "evaluate_model", "snapshot_datasets", "refresh_reports"
LISTED = 8  # models named in a skip reason; the rest are counted


def model_run_request(registry: Registry, model: str, work: list[PartitionStatus], run_key_prefix: str,
                      profile: ProfileChoice = ProfileChoice(), samples: int | None = None) -> dg.RunRequest:
    datasets = sorted(s.dataset for s in work)
    selection = [model_weights.key, *(predictions_key(d) for d in datasets), *(scores_key(d) for d in datasets)]
    fingerprint = stable_hash([s.as_dict() for s in sorted(work, key=lambda s: s.dataset)])[:12]
    profiles = sorted({s.profile for s in work})
    return dg.RunRequest(
        run_key=f"{run_key_prefix}:{model}:{fingerprint}", job_name=EVALUATE_JOB, partition_key=model,
        asset_selection=selection,
        run_config={"ops": {op: {"config": {"samples": samples, **profile.as_config_fields()}}
                            for op in ("predictions", "scores")}},
        tags={**GPU_TAG, **run_tags(registry, model), "llmeval/model": model,
              "llmeval/datasets": ",".join(datasets), "llmeval/profile": ",".join(profiles),
              SAMPLES_TAG: describe_samples(samples)})


def describe_samples(samples: int | None) -> str:
    return str(samples) if samples else "category sample_limit"


def missing_snapshots(registry: Registry, lake: ResultsLake, datasets: set[str]) -> list[str]:
    return sorted(d for d in datasets if lake.current_snapshot(d) is None)


def snapshot_request(snapshots: list[str], run_key_prefix: str) -> dg.RunRequest:
    return dg.RunRequest(run_key=f"{run_key_prefix}:snapshots:{','.join(snapshots)}", job_name=SNAPSHOT_JOB,
                         asset_selection=[dg.AssetKey(f"dataset_{d}") for d in snapshots])


def evaluable_models(registry: Registry) -> list[str]:
    return sorted({p.model for p in registry.pairs() if registry.datasets[p.dataset].supported})


def model_fingerprints(registry: Registry) -> dict[str, str]:
    """Per evaluable model, a hash of what the registry says about its evaluation: its entry, and for each of its
    valid pairs the dataset entry and the owning category's profile and settings. Another model joining a category
    changes no other member's fingerprint."""
    pairs: dict[str, list[dict]] = {}
    for pair in registry.pairs():
        dataset = registry.datasets[pair.dataset]
        if not dataset.supported:
            continue
        category = registry.categories[pair.category]
        pairs.setdefault(pair.model, []).append({
            "dataset": pair.dataset, "optional": pair.optional, "entry": dataset.model_dump(mode="json"),
            "profile": category.profile, "settings": category.settings.model_dump(mode="json")})
    return {model: stable_hash({"model": registry.models[model].model_dump(mode="json"), "pairs": model_pairs})
            for model, model_pairs in sorted(pairs.items())}


def _listing(models: list[str]) -> str:
    shown = ", ".join(models[:LISTED])
    return shown + (f" and {len(models) - LISTED} more" if len(models) > LISTED else "")


def stale_summary(work: dict[str, list[PartitionStatus]]) -> str:
    if not work:
        return "every valid (model, dataset) pair is fresh"
    pairs = sum(map(len, work.values()))
    return (f"{pairs} stale or missing pair(s) of {len(work)} model(s) not scheduled ({_listing(sorted(work))}): "
            f"run them with `llmeval evaluate --model <key>` (or --all), or Materialize a models partition of "
            f"the evaluate_model job in the UI")


class SensorCursor:
    """The registry state the sensor last acted on: each model's fingerprint (a model counts as acted on once its
    run was requested or it had nothing stale), and the blocked reasons already reported."""

    def __init__(self, raw: str | None) -> None:
        data = json.loads(raw) if raw else {}
        self.baseline_taken = bool(raw)
        self.models: dict[str, str] = data.get("models", {})
        self.blocked: dict[str, str] = data.get("blocked", {})

    def dump(self) -> str:
        return json.dumps({"models": self.models, "blocked": self.blocked}, sort_keys=True)


def registry_tick(registry: Registry, lake: ResultsLake, cursor: SensorCursor, known_partitions: set[str],
                  settings: AutomationEntry) -> dg.SensorResult:
    """One registry_sensor tick (see the module docstring)."""
    fingerprints = model_fingerprints(registry)
    new_partitions = [m for m in fingerprints if m not in known_partitions]
    partitions = [models_partitions.build_add_request(new_partitions)] if new_partitions else []
    if not cursor.baseline_taken or not settings.evaluate_new_models:
        cursor.models = fingerprints
        cursor.baseline_taken = True
        what = ("baseline taken" if settings.evaluate_new_models
                else "automation.yaml evaluate_new_models is false") + f" ({len(fingerprints)} models): "
        return dg.SensorResult(dynamic_partitions_requests=partitions, cursor=cursor.dump(),
                               skip_reason=what + stale_summary(stale_work(registry, lake, samples=settings.samples)))
    cursor.models = {m: fp for m, fp in cursor.models.items() if m in fingerprints}  # removed models
    changed = [m for m, fp in fingerprints.items() if cursor.models.get(m) != fp]
    work = stale_work(registry, lake, samples=settings.samples, models=changed) if changed else {}
    for model in changed:
        if model not in work:  # added or changed, but nothing of it is stale
            cursor.models[model] = fingerprints[model]
    blocked = blocked_models(registry, sorted(work))
    events = [dg.AssetObservation(model_weights.key, partition=model,
                                  metadata={"status": "blocked", "availability": status.status.value,
                                            "reason": status.reason})
              for model, status in blocked.items() if cursor.blocked.get(model) != status.reason]
    cursor.blocked = {model: status.reason for model, status in blocked.items()}
    runnable = {m: statuses for m, statuses in work.items() if m not in blocked}
    prefix = registry.digest[:12]
    snapshots = missing_snapshots(registry, lake, {s.dataset for ss in runnable.values() for s in ss})
    if snapshots:  # model runs read the snapshots: take them first, a later tick requests the models
        requests = [snapshot_request(snapshots, prefix)]
    else:
        requests = [model_run_request(registry, m, statuses, prefix, samples=settings.samples)
                    for m, statuses in sorted(runnable.items())]
        cursor.models.update({m: fingerprints[m] for m in runnable})
    reasons = [f"{m}: {s.blocked_reason}" for m, s in sorted(blocked.items())]
    if not requests and not reasons:
        reasons.append("no model added or changed since the last tick" if not changed
                       else f"{_listing(changed)} changed; every pair of them is fresh")
    return dg.SensorResult(run_requests=requests, dynamic_partitions_requests=partitions, asset_events=events,
                           cursor=cursor.dump(), skip_reason=None if requests else "\n".join(reasons))


def scheduled_requests(registry: Registry, lake: ResultsLake, run_key_prefix: str,
                       samples: int | None) -> tuple[list[dg.RunRequest], list[str]]:
    """Every stale pair of the registry, one run per model whose weights can be had; and the blocked ones."""
    work = stale_work(registry, lake, samples=samples)
    blocked = blocked_models(registry, sorted(work))
    runnable = {m: statuses for m, statuses in work.items() if m not in blocked}
    snapshots = missing_snapshots(registry, lake, {s.dataset for ss in runnable.values() for s in ss})
    skipped = [f"{m}: {s.blocked_reason}" for m, s in sorted(blocked.items())]
    if snapshots:  # this schedule runs evaluate_model only; the registry sensor or `llmeval snapshot` takes them
        skipped.append(f"datasets without a snapshot: {', '.join(snapshots)} (run `llmeval snapshot`)")
        runnable = {m: ss for m, ss in runnable.items() if not {s.dataset for s in ss} & set(snapshots)}
    requests = [model_run_request(registry, m, statuses, run_key_prefix, samples=samples)
                for m, statuses in sorted(runnable.items())]
    return requests, skipped


def build_automation(evaluate_model: dg.JobDefinition, snapshot_datasets: dg.JobDefinition,
                     refresh_reports: dg.JobDefinition, settings: AutomationEntry = AutomationEntry()
                     ) -> tuple[list, list]:
    samples = describe_samples(settings.samples)

    @dg.sensor(jobs=[evaluate_model, snapshot_datasets], minimum_interval_seconds=60,
               default_status=dg.DefaultSensorStatus.RUNNING,
               description=f"Registers every registry model as a partition. Its first tick takes the registry as a "
                           f"baseline and schedules nothing; later ticks request one run per model added or "
                           f"changed since, for its stale or missing pairs, with {samples} samples per pair "
                           f"(registry/automation.yaml). Models whose weights cannot be had are reported as "
                           f"blocked, not launched.")
    def registry_sensor(context: dg.SensorEvaluationContext, store: ResultsStore):
        try:
            registry = store.registry()
        except RegistryError as exc:
            return dg.SkipReason(f"registry is invalid, nothing scheduled:\n{exc}")
        known = set(context.instance.get_dynamic_partitions(models_partitions.name))
        return registry_tick(registry, store.lake, SensorCursor(context.cursor), known, registry.automation)

    @dg.schedule(cron_schedule="0 3 * * *", job=evaluate_model, default_status=dg.DefaultScheduleStatus.STOPPED,
                 description=f"Nightly (stopped by default): materialize whatever is stale or missing (also retries "
                             f"failed work) with {samples} samples per pair (registry/automation.yaml); models "
                             f"whose weights cannot be had are skipped with the reason")
    def nightly_refresh(context: dg.ScheduleEvaluationContext, store: ResultsStore):
        registry = store.registry()
        day = context.scheduled_execution_time.strftime("%Y-%m-%d")
        requests, blocked = scheduled_requests(registry, store.lake, f"nightly-{day}", registry.automation.samples)
        return requests or dg.SkipReason("\n".join(blocked) or "every valid (model, dataset) pair is fresh")

    @dg.run_status_sensor(run_status=dg.DagsterRunStatus.SUCCESS, monitored_jobs=[evaluate_model],
                          request_job=refresh_reports, default_status=dg.DefaultSensorStatus.RUNNING,
                          description="Rebuild the DuckDB tables and dbt reports after each evaluation run")
    def refresh_reports_after_evaluation(context: dg.RunStatusSensorContext):
        return dg.RunRequest(run_key=f"reports-after-{context.dagster_run.run_id}")

    return [registry_sensor, refresh_reports_after_evaluation], [nightly_refresh]
