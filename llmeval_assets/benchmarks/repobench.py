"""RepoBench-C Python v1.1 (Liu et al. 2024, `tianyang/repobench_python_v1.1`): predict the next line of a Python
file given snippets from other files of its repository. Three settings (splits): cross_file_first (the next
line is the first use of a cross-file symbol), cross_file_random (a later use), in_file (no cross-file use).

Offline there is no copy of the data: load_items(source="offline") reads a hand-built 12-item FIXTURE
(data/repobench_fixture.jsonl, 4 items per setting, every row marked `fixture_note`) that only exercises the code
path; its scores mean nothing. The real data comes from the hub (source="hf").

Variant "next_line" (default; RepoBench's `construct_prompt` as evalchemy runs it: plain completion,
temperature 0.2, top_p 0.95, max 128 new tokens). Prompt:

    # Repo Name: {repo_name}
    # Path: {context[0].path}
    {context[0].snippet}

    [... one "# Path:" block per cross-file snippet ...]
    # Path: {file_path}
    {import_statement}
    {cropped_code}

with runs of 4+ newlines collapsed to 2. Long prompts are cut to `max_prompt_chars` (spec.extra; 24,000
characters, about 7k tokens of code, so an 8k-context model fits it with the 128 new tokens): whole lines of the
cross-file block are dropped from its end first (RepoBench's rule, which keeps the file being completed intact),
then, if the in-file part alone is too long, its oldest lines. Deviation: RepoBench counts tokens with the
model's tokenizer; the engine interface has no tokenizer, so the budget is in characters.

Extraction: the first line of the completion that is not empty, not a "#" comment and not inside a
triple-quoted block (RepoBench's get_first_line_not_comment). Metrics, against the dataset's `next_line`:
exact_match (equal after whitespace splitting, RepoBench's rule) and edit_similarity (rapidfuzz `fuzz.ratio`
/ 100, the Indel-distance similarity that RepoBench's fuzzywuzzy computes; 0-1 rather than 0-100). Reported
overall (standard errors clustered by repository) and per setting, e.g. `exact_match/in_file`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from llmeval_assets.benchmarks.base import (
    Benchmark,
    Item,
    MetricValue,
    Prediction,
    SampleScore,
    ScoringContext,
    TaskSpec,
    aggregate_scores,
    register,
)
from llmeval_assets.benchmarks.generation import first_answer, generate_for_items, predictions_by_item
from llmeval_assets.benchmarks.sources import (
    DatasetFormatError,
    HubSplit,
    hub_split,
    load_hf_rows,
    read_jsonl,
    require,
    unknown_source_error,
)
from llmeval_assets.engine.base import InferenceEngine
from llmeval_assets.engine.requests import Sampling

SETTINGS = ("cross_file_first", "cross_file_random", "in_file")
FIXTURE = Path(__file__).parent / "data" / "repobench_fixture.jsonl"
MAX_PROMPT_CHARS = 24_000
METRICS = ("exact_match", "edit_similarity")
TRIPLE_QUOTES = ('"""', "'''")


# ---- prompt ----

def build_prompt(data: dict[str, Any], max_chars: int) -> str:
    """RepoBench's construct_prompt, cut to max_chars (see the module docstring)."""
    cross_file = f"# Repo Name: {data['repo_name']}\n" + "".join(
        f"# Path: {snippet['path']}\n{snippet['snippet']}\n\n" for snippet in data["context"])
    in_file = f"# Path: {data['file_path']}\n{data['import_statement']}\n{data['cropped_code']}\n"
    if len(cross_file) + len(in_file) > max_chars:
        cross_file = _keep_first_lines(cross_file, max_chars - len(in_file))
        if len(in_file) > max_chars:
            in_file = _keep_last_lines(in_file, max_chars)
    return re.sub(r"\n{4,}", "\n\n", cross_file + in_file)


def _keep_first_lines(text: str, budget: int) -> str:
    """The longest run of whole leading lines that fits, ending with a blank line ("" when nothing fits)."""
    kept, used = [], 2
    for line in text.split("\n"):
        if used + len(line) + 1 > budget:
            break
        kept.append(line)
        used += len(line) + 1
    return "\n".join(kept) + "\n\n" if kept else ""


def _keep_last_lines(text: str, budget: int) -> str:
    kept, used = [], 0
    for line in reversed(text.split("\n")):
        if used + len(line) + 1 > budget:
            break
        kept.append(line)
        used += len(line) + 1
    return "\n".join(reversed(kept))


# ---- extraction and metrics ----

def first_code_line(completion: str) -> str:
    """The first line that is not blank, not a # comment and not inside a triple-quoted block; the first line
    when there is none (RepoBench get_first_line_not_comment)."""
    lines = completion.lstrip("\n").split("\n")
    in_docstring = False
    for line in lines:
        stripped = line.strip()
        if not stripped:
            continue
        if not in_docstring and stripped.startswith(TRIPLE_QUOTES):
            in_docstring = True
            continue
        if in_docstring and stripped.endswith(TRIPLE_QUOTES):
            in_docstring = False
            continue
        if in_docstring or stripped.startswith("#"):
            continue
        return line
    return lines[0]


def exact_match(prediction: str, gold: str) -> float:
    return float(prediction.split() == gold.split())


def edit_similarity(prediction: str, gold: str) -> float:
    from rapidfuzz import fuzz

    return fuzz.ratio(prediction, gold) / 100.0


@register
class RepoBench(Benchmark):
    name = "repobench"
    version = "1"
    default_variant = "next_line"

    def variants(self) -> tuple[str, ...]:
        return ("next_line",)

    # ---- loading ----

    def load_items(self, source: str = "offline", **source_args: Any) -> list[Item]:
        """source="offline": the hand-built fixture (not RepoBench data, so it needs no source arguments);
        source="hf": the registry's hub source, whose split names the settings joined by "+"."""
        if source == "offline":
            rows = [(row.get("setting"), row) for _, row in read_jsonl(FIXTURE, self.name)]
        elif source == "hf":
            hub = hub_split(self.name, source_args)
            rows = [(setting, row) for setting in hub.split.split("+")
                    for row in load_hf_rows(HubSplit(hub.repo, hub.config, setting, hub.revision))]
        else:
            raise unknown_source_error(self.name, source)
        items, index_in_setting = [], dict.fromkeys(SETTINGS, 0)
        for line, (setting, row) in enumerate(rows, start=1):
            if setting not in SETTINGS:
                raise DatasetFormatError(self.name, f"row {line}", "setting",
                                         f"expected one of {SETTINGS}, got {setting!r}")
            item_id = f"{setting}/{index_in_setting[setting]}"
            index_in_setting[setting] += 1
            context = require(row, "context", list, dataset=self.name, row=item_id)
            for snippet in context:
                for field in ("path", "snippet"):
                    if not isinstance(snippet, dict) or not isinstance(snippet.get(field), str):
                        raise DatasetFormatError(self.name, item_id, f"context.{field}", "missing or not a string")
            data = {field: require(row, field, str, dataset=self.name, row=item_id)
                    for field in ("repo_name", "file_path", "import_statement", "cropped_code", "next_line")}
            data |= {"setting": setting, "context": [{"path": s["path"], "snippet": s["snippet"]} for s in context],
                     "fixture": "fixture_note" in row}
            items.append(Item(item_id=item_id, data=data, group=data["repo_name"]))
        return items

    # ---- prompts ----

    def task_spec(self, variant: str | None = None) -> TaskSpec:
        variant = self.resolve_variant(variant)
        return TaskSpec(
            benchmark=self.name, variant=variant, benchmark_version=self.version,
            prompt_template="# Repo Name: {repo_name}\\n(# Path: {path}\\n{snippet}\\n\\n)*"
                            "# Path: {file_path}\\n{import_statement}\\n{cropped_code}\\n",
            num_fewshot=0, fewshot_ids=(), use_chat_template=False, request_kind="generate",
            sampling=Sampling(max_tokens=128, temperature=0.2, top_p=0.95),
            extraction="first-non-comment-line/v1", metrics=METRICS, primary_metric="exact_match",
            reference="RepoBench v1.1 Python next-line completion (Liu et al. 2023)",
            extra=(("max_prompt_chars", MAX_PROMPT_CHARS),),
        )

    def predict(self, engine: InferenceEngine, items: Sequence[Item], spec: TaskSpec,
                fewshot_pool: Sequence[Item] = ()) -> list[Prediction]:
        max_chars = dict(spec.extra)["max_prompt_chars"]
        return generate_for_items(engine, items, spec.sampling, lambda item: build_prompt(item.data, max_chars))

    # ---- scoring ----

    def score(self, items: Sequence[Item], predictions: Sequence[Prediction], spec: TaskSpec,
              ctx: ScoringContext | None = None) -> list[SampleScore]:
        by_id = predictions_by_item(self.name, items, predictions)
        reasoning_model = ctx.reasoning_model if ctx else False
        scores = []
        for item in items:
            prediction = by_id[item.item_id]
            answer_text, cut_off = first_answer(prediction, reasoning_model)
            line = first_code_line(answer_text)
            gold = item.data["next_line"]
            scores.append(SampleScore(
                item_id=item.item_id, values={"exact_match": exact_match(line, gold),
                                              "edit_similarity": edit_similarity(line, gold)},
                answer=line, target=gold, group=item.group, unanswered=cut_off,
                explanation=f"{item.data['setting']}" + (f"; {prediction.error}" if prediction.error else "")))
        return scores

    def aggregate(self, scores: Sequence[SampleScore], spec: TaskSpec) -> list[MetricValue]:
        """Overall (clustered by repository), then per setting, named "<metric>/<setting>"."""
        metrics = aggregate_scores(scores, spec.metrics)
        for setting in SETTINGS:
            subset = [s for s in scores if s.item_id.startswith(f"{setting}/")]
            metrics.extend(replace(m, name=f"{m.name}/{setting}")
                           for m in aggregate_scores(subset, spec.metrics) if m.name in spec.metrics)
        return metrics

    def gold_predictions(self, items: Sequence[Item], spec: TaskSpec) -> list[Prediction]:
        """The gold next line as the completion."""
        return [Prediction(item_id=item.item_id, outputs=(item.data["next_line"] + "\n",)) for item in items]

