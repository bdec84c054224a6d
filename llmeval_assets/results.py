"""Reading single results back out of the results DuckDB (docs/results_schema.md): every sample of one
(model, dataset, profile) result, and paired comparisons of two models on the items both were scored on.

    results = stored_results(con, model="smollm2_135m")          # evals.partitions rows: the current results
    records = sample_records(con, results[0], which="wrong")      # prompt, outputs, answers, gold, scores, why
    comparison = compare_results(con, result_a, result_b)        # paired difference of the primary metric

`llmeval samples`, `llmeval compare`, `llmeval evaluate --output-path` and the HTML report's comparison view read
through these functions, so they agree. Two results are compared only when they share the dataset, the profile,
the variant and the primary metric: numbers of different settings are different evaluations."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import duckdb

from llmeval_assets.scoring.stats import Z_95, paired_comparison

Which = Literal["all", "wrong", "right"]
# what evals.partitions tells of how a result was evaluated (read by every command here)
RESULT_COLUMNS = ("model", "dataset", "profile", "profile_label", "benchmark", "variant", "num_fewshot",
                  "chat_template", "reference", "primary_metric", "spec_hash", "dataset_version", "weights_revision",
                  "engine_hash", "engine", "tokenizer_hash", "identity_hash", "samples", "run_id", "materialized_at",
                  "judge", "fixture")


class NotComparable(ValueError):
    """Two results cannot be compared: they share no item, or (SettingsDiffer) were evaluated differently."""


class SettingsDiffer(NotComparable):
    """Two results were evaluated under different settings (dataset, profile, variant, primary metric)."""


def stored_results(con: duckdb.DuckDBPyConnection, model: str | None = None, dataset: str | None = None,
                   profile: str | None = None) -> list[dict[str, Any]]:
    """The current results (rows of evals.partitions), optionally of one model / dataset / profile, in a fixed
    order, each with the primary metric's range (value_max, higher_is_better) from evals.metrics."""
    where = " and ".join(f"p.{column} = ${column}" for column, value in
                         (("model", model), ("dataset", dataset), ("profile", profile)) if value is not None)
    query = f"""
        select {", ".join(f"p.{c}" for c in RESULT_COLUMNS)}, m.value_min, m.value_max, m.higher_is_better
        from evals.partitions p
        left join evals.metrics m
            on m.model = p.model and m.dataset = p.dataset and m.profile = p.profile
            and m.spec_hash = p.spec_hash and m.metric = p.primary_metric and m.item_group is null
        {"where " + where if where else ""}
        order by p.dataset, p.model, p.profile"""
    params = {k: v for k, v in (("model", model), ("dataset", dataset), ("profile", profile)) if v is not None}
    return _dicts(con.execute(query, params))


def _dicts(cursor: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    columns = [d[0] for d in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def is_full_marks(value: float | None, result: dict[str, Any]) -> bool:
    """An item "got right": full marks on the primary metric (1 for accuracy or pass@1, 10 for an MT-Bench
    judgment), by the metric's declared range."""
    if value is None:
        return False
    if result.get("higher_is_better") is False:
        low = result.get("value_min")
        return low is not None and value <= low
    top = result.get("value_max")
    return value >= (1.0 if top is None or not math.isfinite(top) else top)


def sample_records(con: duckdb.DuckDBPyConnection, result: dict[str, Any], which: Which = "all",
                   item_id: str | None = None) -> list[dict[str, Any]]:
    """Every sample of a result, in the result's item order: the requests as sent (rendered prompt, conversation or
    choices), the outputs, per metric the score and the extracted answer, the gold, the explanation, and whether the
    primary metric got full marks. `which` keeps the wrong or right ones; `item_id` one item."""
    key = {name: result[name] for name in ("model", "dataset", "profile", "spec_hash")}
    scores = con.execute("""
        select item_id, item_group, metric, value, answer, target, unanswered, explanation
        from evals.sample_scores
        where model = $model and dataset = $dataset and profile = $profile and spec_hash = $spec_hash
              and ($item_id is null or item_id = $item_id)""", {**key, "item_id": item_id}).fetchall()
    # the prediction each score was computed from: same weights, engine and tokenizer, the newest such row
    predictions = con.execute("""
        select item_id, request, outputs, finish_reasons, logprobs, error, tokens_in, tokens_out
        from evals.predictions
        where model = $model and dataset = $dataset and profile = $profile and spec_hash = $spec_hash
              and weights_revision = $weights_revision and engine_hash = $engine_hash
              and tokenizer_hash = $tokenizer_hash and ($item_id is null or item_id = $item_id)
        qualify row_number() over (partition by item_id order by created_at desc) = 1""",
                              {**key, "weights_revision": result["weights_revision"],
                               "engine_hash": result["engine_hash"], "tokenizer_hash": result["tokenizer_hash"],
                               "item_id": item_id}).fetchall()
    by_item: dict[str, dict[str, Any]] = {}
    for item, group, metric, value, answer, target, unanswered, explanation in scores:
        record = by_item.setdefault(item, {"item_id": item, "group": group, "target": target,
                                           "unanswered": bool(unanswered), "scores": {}, "answers": {},
                                           "explanations": {}})
        record["scores"][metric] = value
        record["answers"][metric] = answer
        if explanation:
            record["explanations"][metric] = explanation
    for item, request, outputs, finish_reasons, logprobs, error, tokens_in, tokens_out in predictions:
        if item in by_item:
            by_item[item].update(requests=json.loads(request) if request else [], outputs=list(outputs or []),
                                 finish_reasons=list(finish_reasons or []), logprobs=list(logprobs or []),
                                 error=error, tokens_in=tokens_in, tokens_out=tokens_out)
    order = {item: index for index, item in enumerate(_item_order(con, result))}
    records = []
    for record in sorted(by_item.values(), key=lambda r: (order.get(r["item_id"], len(order)), r["item_id"])):
        primary = record["scores"].get(result["primary_metric"])
        record.setdefault("requests", [])
        record.setdefault("outputs", [])
        record["primary_metric"] = result["primary_metric"]
        record["correct"] = is_full_marks(primary, result)
        # one explanation when every metric gives the same one (the usual case)
        texts = set(record["explanations"].values())
        record["explanation"] = texts.pop() if len(texts) == 1 else "\n".join(
            f"{metric}: {text}" for metric, text in record["explanations"].items())
        del record["explanations"]
        if which == "all" or (which == "right") == record["correct"]:
            records.append(record)
    return records


def _item_order(con: duckdb.DuckDBPyConnection, result: dict[str, Any]) -> list[str]:
    row = con.execute("select item_ids from evals.partitions where model = ? and dataset = ? and profile = ?",
                      [result["model"], result["dataset"], result["profile"]]).fetchone()
    return list(row[0] or []) if row else []


def render_requests(requests: Sequence[dict[str, Any]]) -> str:
    """The requests of one sample as text: a prompt as is, a conversation turn by turn, a log-likelihood or choice
    request as its context followed by the continuations scored."""
    parts: list[str] = []
    contexts: dict[str, list[str]] = {}
    for request in requests:
        kind = request.get("kind")
        if kind == "GenerateRequest":
            if request.get("messages"):
                turns = [f"[{m.get('role')}] {m.get('content')}" for m in request["messages"]]
                if request.get("assistant_prefix"):  # the reply as prefilled; the output continues it
                    turns.append(f"[assistant, prefilled] {request['assistant_prefix']}")
                parts.append("\n".join(turns))
            else:
                parts.append(request.get("prompt") or "")
        elif kind == "LoglikelihoodRequest":
            contexts.setdefault(request["context"], []).append(request["continuation"])
        elif kind == "ChoiceRequest":
            contexts.setdefault(request["context"], []).extend(request["choices"])
    for context, continuations in contexts.items():
        choices = "\n".join(f"  ({index}) {json.dumps(c)}" for index, c in enumerate(continuations))
        parts.append(f"{context}\n-- scored continuations:\n{choices}")
    return "\n\n".join(parts)


# ------------------------------------------------------------------------------------------------ comparisons


@dataclass(frozen=True)
class Comparison:
    """Model A minus model B on the items both results scored, on the primary metric."""

    dataset: str
    profile: str
    profile_label: str
    variant: str
    metric: str
    model_a: str
    model_b: str
    n: int  # items both have
    only_in_a: int  # items only A's result holds (left out of the comparison)
    only_in_b: int
    mean_a: float
    mean_b: float
    difference: float
    stderr: float | None
    ci_low: float | None  # 95%, normal approximation of the paired difference
    ci_high: float | None
    p_value: float | None  # two-sided
    n_clusters: int | None  # set when the stderr is clustered by item group (MMLU subject, ...)
    a_right_only: int  # items with full marks from A but not from B
    b_right_only: int
    both_right: int
    neither_right: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def comparable(a: dict[str, Any], b: dict[str, Any]) -> str | None:
    """Why results `a` and `b` must not be compared (None when they may)."""
    if a["dataset"] != b["dataset"]:
        return f"different datasets ({a['dataset']} vs {b['dataset']})"
    for field, what in (("profile", "profiles"), ("variant", "variants"), ("primary_metric", "primary metrics")):
        if a[field] != b[field]:
            return (f"{a['model']} and {b['model']} were evaluated on {a['dataset']} under different {what} "
                    f"({a[field]} vs {b[field]}): their numbers are different evaluations")
    return None


def compare_results(con: duckdb.DuckDBPyConnection, a: dict[str, Any], b: dict[str, Any]) -> Comparison:
    """The paired comparison (scoring.stats.paired_comparison) of two results on the items both scored; its
    standard error is clustered by item group when the shared items come in two or more groups, as the datasets'
    own standard errors are. Raises NotComparable (SettingsDiffer)."""
    reason = comparable(a, b)
    if reason:
        raise SettingsDiffer(reason)
    scores_a, scores_b = _primary_scores(con, a), _primary_scores(con, b)
    shared = [item for item in scores_a if item in scores_b]
    if not shared:
        raise NotComparable(f"{a['model']} and {b['model']} share no scored item on {a['dataset']}")
    values_a = [scores_a[item][1] for item in shared]
    values_b = [scores_b[item][1] for item in shared]
    groups = [scores_a[item][0] for item in shared]
    paired = paired_comparison(values_a, values_b, clusters=groups if len(set(groups)) > 1 else None)
    pairs = [(is_full_marks(x, a), is_full_marks(y, b)) for x, y in zip(values_a, values_b, strict=True)]
    half = None if paired.stderr is None else Z_95 * paired.stderr
    return Comparison(
        dataset=a["dataset"], profile=a["profile"], profile_label=a.get("profile_label") or a["profile"],
        variant=a["variant"], metric=a["primary_metric"], model_a=a["model"], model_b=b["model"], n=len(shared),
        only_in_a=len(scores_a) - len(shared), only_in_b=len(scores_b) - len(shared), mean_a=paired.mean_a,
        mean_b=paired.mean_b, difference=paired.mean_diff, stderr=paired.stderr,
        ci_low=None if half is None else paired.mean_diff - half,
        ci_high=None if half is None else paired.mean_diff + half, p_value=paired.p_value,
        n_clusters=paired.n_clusters, a_right_only=sum(x and not y for x, y in pairs),
        b_right_only=sum(y and not x for x, y in pairs), both_right=sum(x and y for x, y in pairs),
        neither_right=sum(not x and not y for x, y in pairs))


def _primary_scores(con: duckdb.DuckDBPyConnection, result: dict[str, Any]) -> dict[str, tuple[str | None, float]]:
    """item id -> (item group, primary metric value), in the result's item order."""
    rows = con.execute("""
        select item_id, item_group, value from evals.sample_scores
        where model = ? and dataset = ? and profile = ? and spec_hash = ? and metric = ? and value is not null""",
                       [result["model"], result["dataset"], result["profile"], result["spec_hash"],
                        result["primary_metric"]]).fetchall()
    by_item = {item: (group, float(value)) for item, group, value in rows}
    order = _item_order(con, result)
    return {item: by_item[item] for item in [*order, *sorted(set(by_item) - set(order))] if item in by_item}


def pairwise_comparisons(con: duckdb.DuckDBPyConnection) -> list[Comparison]:
    """Every pair of models whose results share a dataset, profile, variant and primary metric (the HTML report's
    comparison view); pairs in model order, A before B."""
    results = stored_results(con)
    groups: dict[tuple[str, str, str, str], list[dict[str, Any]]] = {}
    for result in results:
        key = (result["dataset"], result["profile"], result["variant"], result["primary_metric"])
        groups.setdefault(key, []).append(result)
    comparisons = []
    for key in sorted(groups):
        members = sorted(groups[key], key=lambda r: r["model"])
        for index, a in enumerate(members):
            for b in members[index + 1:]:
                try:
                    comparisons.append(compare_results(con, a, b))
                except NotComparable:
                    continue  # no shared item: nothing to say
    return comparisons
