"""One dynamic partition per registry model: adding a model adds a partition (the registry sensor does it)."""

import dagster as dg

models_partitions = dg.DynamicPartitionsDefinition(name="models")
