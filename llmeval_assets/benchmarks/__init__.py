"""One module per benchmark (prompt, answer extraction and metric together); see base.py for the contract."""

from llmeval_assets.benchmarks.base import (
    Benchmark,
    Item,
    MetricValue,
    Prediction,
    SampleScore,
    ScoringContext,
    TaskSpec,
    aggregate_scores,
    get_benchmark,
    items_to_records,
    records_to_items,
    register,
)

__all__ = ["Benchmark", "Item", "MetricValue", "Prediction", "SampleScore", "ScoringContext", "TaskSpec",
           "aggregate_scores", "get_benchmark", "items_to_records", "records_to_items", "register"]
