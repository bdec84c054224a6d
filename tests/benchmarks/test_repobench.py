"""RepoBench Python v1.1 on the hand-built offline fixture (the real data is only on the hub, which is unreachable
here): RepoBench's prompt construction and truncation, first-non-comment-line extraction, exact match and edit
similarity, per-setting metrics, gold = 1 / empty = 0."""

import pytest

from llmeval_assets.benchmarks import Prediction, ScoringContext, get_benchmark
from llmeval_assets.benchmarks.repobench import build_prompt, edit_similarity, exact_match, first_code_line
from tests.benchmarks.data import load_test_items
from tests.benchmarks.fakes import FakeEngine

IN_FILE_PROMPT = (
    "# Repo Name: acme/invoicing\n"
    "# Path: invoicing/numbering.py\n"
    "import itertools\n"
    "class InvoiceNumbers:\n"
    "    def __init__(self, prefix: str, start: int = 1):\n"
    "        self.prefix = prefix\n"
    "        self._counter = itertools.count(start)\n\n"
    "    def format(self, number: int) -> str:\n"
    '        return f"{self.prefix}-{number:06d}"\n\n'
    "    def next(self) -> str:\n"
)
IN_FILE_PART = (
    "# Path: invoicing/service.py\n"
    "from invoicing.tax import TaxTable\nfrom invoicing.money import round_cents\n"
    "class InvoiceService:\n"
    "    def __init__(self, tax_table: TaxTable):\n"
    "        self.tax_table = tax_table\n\n"
    "    def total(self, net: float, region: str) -> float:\n"
    "        tax = net * self.tax_table.rate_for(region)\n"
)


@pytest.fixture(scope="module")
def repobench():
    return get_benchmark("repobench")


@pytest.fixture(scope="module")
def items():
    return load_test_items("repobench")


def test_offline_source_is_the_marked_fixture(items):
    assert [i.item_id for i in items][:5] == ["cross_file_first/0", "cross_file_first/1", "cross_file_first/2",
                                              "cross_file_first/3", "cross_file_random/0"]
    assert len(items) == 12 and all(item.data["fixture"] for item in items)
    assert {item.data["setting"] for item in items} == {"cross_file_first", "cross_file_random", "in_file"}


def test_default_prompt_and_request(repobench, items):
    spec = repobench.task_spec()
    in_file = next(i for i in items if i.item_id == "in_file/0")
    engine = FakeEngine(generate=lambda r: "        return self.format(next(self._counter))\n\n    def peek(self):")
    (prediction,) = repobench.predict(engine, [in_file], spec)
    (request,) = engine.requests
    assert request.prompt == IN_FILE_PROMPT
    assert (request.sampling.max_tokens, request.sampling.temperature, request.sampling.top_p) == (128, 0.2, 0.95)
    (score,) = repobench.score([in_file], [prediction], spec)
    assert score.values == {"exact_match": 1.0, "edit_similarity": 1.0}


def test_cross_file_snippets_come_first_as_path_comments(items):
    prompt = build_prompt(items[0].data, max_chars=24_000)
    assert prompt.startswith("# Repo Name: acme/invoicing\n# Path: invoicing/tax.py\nclass TaxTable:\n")
    assert "    return round(amount + 1e-9, 2)\n\n# Path: invoicing/service.py\n" in prompt
    assert prompt.endswith(IN_FILE_PART)


def test_long_prompts_drop_cross_file_lines_from_the_end_first(items):
    cut = build_prompt(items[0].data, max_chars=len(IN_FILE_PART) + 80)
    assert cut == "# Repo Name: acme/invoicing\n# Path: invoicing/tax.py\nclass TaxTable:\n\n" + IN_FILE_PART
    assert len(cut) <= len(IN_FILE_PART) + 80
    # too small even for the file being completed: its oldest lines go
    assert build_prompt(items[0].data, max_chars=60) == "        tax = net * self.tax_table.rate_for(region)\n"


@pytest.mark.parametrize("completion, line", [
    ("\n        return round_cents(net + tax)\n    def other(self):", "        return round_cents(net + tax)"),
    ("    # add the tax\n\n    return total\n", "    return total"),
    ('    """Docstring\n    spanning lines."""\n    x = 1\n', "    x = 1"),
    ("# only a comment", "# only a comment"),  # RepoBench falls back to the first line
    ("", ""),
])
def test_first_code_line(completion, line):
    assert first_code_line(completion) == line


def test_metrics():
    assert exact_match("return  a +b", "    return a +b") == 1.0  # whitespace-split comparison
    assert exact_match("return a+b", "return a + b") == 0.0
    assert edit_similarity("abc", "abd") == pytest.approx(2 / 3)  # Indel similarity: 1 - 2/6
    assert edit_similarity("", "return x") == 0.0


def test_gold_one_empty_zero_and_per_setting_metrics(repobench, items):
    spec = repobench.task_spec()
    for predictions, expected in ((repobench.gold_predictions(items, spec), 1.0),
                                  (repobench.empty_predictions(items, spec), 0.0)):
        metrics = {m.name: m for m in repobench.aggregate(repobench.score(items, predictions, spec), spec)}
        for setting in ("", "/cross_file_first", "/cross_file_random", "/in_file"):
            assert metrics[f"exact_match{setting}"].value == expected
            assert metrics[f"edit_similarity{setting}"].value == expected
        assert metrics["exact_match"].n_clusters == 4  # clustered by repository
        assert metrics["exact_match/in_file"].n == 4


def test_reasoning_model_cut_off_is_unanswered(repobench, items):
    cut = Prediction(item_id=items[0].item_id, outputs=("<think>the tax is added",))
    (score,) = repobench.score(items[:1], [cut], repobench.task_spec(), ScoringContext(reasoning_model=True))
    assert (score.values["exact_match"], score.unanswered) == (0.0, True)


def test_hub_loading_reads_each_setting_split(repobench, items, monkeypatch):
    """The hub is unreachable here: `datasets.load_dataset` serves the fixture rows of each split instead."""
    import datasets

    rows = {}
    for item in items:
        row = {k: v for k, v in item.data.items() if k not in ("setting", "fixture")}
        rows.setdefault(item.data["setting"], []).append(row)
    calls = []

    def fake_load_dataset(repo, config=None, split=None, revision=None):
        calls.append((repo, split, revision))
        return datasets.Dataset.from_list(rows[split])

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    loaded = load_test_items("repobench", "hf", revision="r1")
    assert calls == [("tianyang/repobench_python_v1.1", s, "r1") for s in ("cross_file_first", "cross_file_random",
                                                                           "in_file")]
    assert [i.item_id for i in loaded] == [i.item_id for i in items]
    assert not any(i.data["fixture"] for i in loaded)
