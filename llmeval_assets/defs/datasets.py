"""One snapshot asset per supported dataset; its data version is the snapshot's content hash, so predictions go
stale exactly when the data they were computed from changes."""


import dagster as dg

from llmeval_assets.defs.resources import ResultsStore
from llmeval_assets.snapshots import build_snapshot


def dataset_asset(dataset: str, description: str) -> dg.AssetsDefinition:
    @dg.asset(name=f"dataset_{dataset}", group_name="datasets", description=description, kinds={"parquet"})
    def _snapshot(context: dg.AssetExecutionContext, store: ResultsStore) -> dg.MaterializeResult:
        info = build_snapshot(store.registry(), dataset, store.lake, store.dataset_source)
        context.log.info(f"{dataset}: {info.rows} rows, version {info.content_hash[:12]} -> {info.path}")
        return dg.MaterializeResult(
            data_version=dg.DataVersion(info.content_hash),
            metadata={"rows": info.rows, "path": dg.MetadataValue.path(str(info.path)),
                      "content_hash": info.content_hash})

    return _snapshot
