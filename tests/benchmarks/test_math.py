"""MATH on its real offline data (5,000 test problems, 7 subjects): the Minerva 4-shot prompt, answer extraction
(Minerva's final-answer sentence, last \\boxed{}), equivalence (math-verify, normalized strings), gold = 1 /
empty = 0, reasoning models."""

import pytest

from llmeval_assets.benchmarks import Item, Prediction, ScoringContext, get_benchmark
from llmeval_assets.benchmarks.math import extract_answer, is_equivalent, last_boxed
from tests.benchmarks.data import load_test_items
from tests.benchmarks.fakes import FakeEngine

# lm-eval minerva_math_algebra rendered for test doc 0: 4 exemplars ("Problem:\n...\n\nSolution: ..."), then the problem
EXPECTED_PROMPT = (
    "Problem:\nFind the domain of the expression  $\\frac{\\sqrt{x-2}}{\\sqrt{5-x}}$.}\n\n"
    "Solution: The expressions inside each square root must be non-negative. Therefore, $x-2 \\ge 0$, so $x\\ge2$, "
    "and $5 - x \\ge 0$, so $x \\le 5$. Also, the denominator cannot be equal to zero, so $5-x>0$, which gives "
    "$x<5$. Therefore, the domain of the expression is $\\boxed{[2,5)}$.\n"
    "Final Answer: The final answer is $[2,5)$. I hope it is correct.\n\n"
    "Problem:\nIf $\\det \\mathbf{A} = 2$ and $\\det \\mathbf{B} = 12,$ then find "
    "$\\det (\\mathbf{A} \\mathbf{B}).$\n\n"
    "Solution: We have that $\\det (\\mathbf{A} \\mathbf{B}) = (\\det \\mathbf{A})(\\det \\mathbf{B}) = (2)(12) = "
    "\\boxed{24}.$\nFinal Answer: The final answer is $24$. I hope it is correct.\n\n"
    "Problem:\nTerrell usually lifts two 20-pound weights 12 times. If he uses two 15-pound weights instead, how "
    "many times must Terrell lift them in order to lift the same total weight?\n\n"
    "Solution: If Terrell lifts two 20-pound weights 12 times, he lifts a total of $2\\cdot 12\\cdot20=480$ pounds "
    "of weight.  If he lifts two 15-pound weights instead for $n$ times, he will lift a total of "
    "$2\\cdot15\\cdot n=30n$ pounds of weight.  Equating this to 480 pounds, we can solve for $n$:\n"
    "\\begin{align*}\n30n&=480\\\\\n\\Rightarrow\\qquad n&=480/30=\\boxed{16}\n\\end{align*}\n"
    "Final Answer: The final answer is $16$. I hope it is correct.\n\n"
    "Problem:\nIf the system of equations\n\n\\begin{align*}\n6x-4y&=a,\\\\\n6y-9x &=b.\n\\end{align*}has a "
    "solution $(x, y)$ where $x$ and $y$ are both nonzero,\nfind $\\frac{a}{b},$ assuming $b$ is nonzero.\n\n"
    "Solution: If we multiply the first equation by $-\\frac{3}{2}$, we obtain\n\n$$6y-9x=-\\frac{3}{2}a.$$Since "
    "we also know that $6y-9x=b$, we have\n\n$$-\\frac{3}{2}a=b\\Rightarrow\\frac{a}{b}=\\boxed{-\\frac{2}{3}}.$$\n"
    "Final Answer: The final answer is $-\\frac{2}{3}$. I hope it is correct.\n\n"
    "Problem:\nHow many vertical asymptotes does the graph of $y=\\frac{2}{x^2+x-6}$ have?\n\nSolution:"
)


@pytest.fixture(scope="module")
def math_benchmark():
    return get_benchmark("math")


@pytest.fixture(scope="module")
def items():
    return load_test_items("math")


def crafted(target: str) -> Item:
    return Item(item_id="crafted/0", data={"problem": "?", "solution": f"\\boxed{{{target}}}", "level": "Level 1",
                                           "target": target}, group="algebra")


def test_offline_data_is_the_full_test_set_grouped_by_subject(items):
    counts = {}
    for item in items:
        counts[item.group] = counts.get(item.group, 0) + 1
    assert counts == {"algebra": 1187, "counting_and_probability": 474, "geometry": 479, "intermediate_algebra": 903,
                      "number_theory": 540, "prealgebra": 871, "precalculus": 546}


def test_gold_is_the_last_boxed_answer_not_the_normalized_field(items):
    # the oe-eval copy's `answer` field is Minerva-normalized ("\text{(C)}" -> "(C)"); ours keeps the boxed text
    by_id = {item.item_id: item for item in items}
    assert by_id["algebra/0"].data["target"] == "2"
    assert any("\\text{" in item.data["target"] for item in items)


def test_default_prompt_and_request_match_lm_eval_minerva_math(math_benchmark, items):
    spec = math_benchmark.task_spec()
    engine = FakeEngine(generate=lambda r: " The denominator is $(x-2)(x+3)$, so there are $\\boxed{2}$.\n"
                                            "Final Answer: The final answer is $2$. I hope it is correct.")
    (prediction,) = math_benchmark.predict(engine, items[:1], spec)
    (request,) = engine.requests
    assert request.prompt == EXPECTED_PROMPT
    sampling = request.sampling
    assert (sampling.stop, sampling.temperature, sampling.max_tokens) == (("Problem:",), 0.0, 256)
    (score,) = math_benchmark.score(items[:1], [prediction], spec)
    assert (score.values, score.answer, score.group) == ({"exact_match": 1.0}, "2", "algebra")


def test_chat_variant_asks_for_a_boxed_answer(math_benchmark, items):
    spec = math_benchmark.task_spec("chat_cot_0shot")
    engine = FakeEngine(generate=lambda r: "Factor the denominator... Therefore, the final answer is: $\\boxed{2}$.")
    (prediction,) = math_benchmark.predict(engine, items[:1], spec)
    assert engine.requests[0].messages == ({"role": "user", "content": (
        "How many vertical asymptotes does the graph of $y=\\frac{2}{x^2+x-6}$ have?\n"
        "Please reason step by step, and put your final answer within \\boxed{}.")},)
    assert engine.requests[0].sampling.max_tokens == 5120
    assert math_benchmark.score(items[:1], [prediction], spec)[0].values == {"exact_match": 1.0}


@pytest.mark.parametrize("text, boxed", [
    ("so $\\boxed{\\frac{1}{2}}$.", "\\frac{1}{2}"),
    ("first \\boxed{1} then \\boxed{\\{2, 3\\}}", "\\{2, 3\\}"),
    ("old style \\fbox{7}", "7"),
    ("spaced $\\boxed 5$ here", "5"),
    ("cut off \\boxed{\\frac{1}{2}", None),
    ("no box", None),
])
def test_last_boxed(text, boxed):
    assert last_boxed(text) == boxed


@pytest.mark.parametrize("completion, answer", [
    ("... $\\boxed{3}$.\nFinal Answer: The final answer is $24$. I hope it is correct.", "24"),  # Minerva first
    ("... Final Answer: The final answer is $\\frac{1}{2}$. ", "\\frac{1}{2}"),  # cut before "I hope..."
    ("Therefore, the final answer is: $\\boxed{\\frac{1}{2}}$. I hope it is correct.", "\\frac{1}{2}"),
    ("I do not know.", None),
])
def test_extract_answer(completion, answer):
    assert extract_answer(completion) == answer


@pytest.mark.parametrize("answer, gold, equal", [
    ("\\frac{1}{2}", "0.5", True),  # math-verify: the same number
    ("0.5", "\\dfrac{1}{2}", True),
    ("x^2+1", "1+x^2", True),
    ("\\text{Evelyn}", "Evelyn", True),  # normalized strings
    ("90^\\circ", "90", True),
    ("[2,5)", "[2,5]", False),
    ("5", "6", False),
])
def test_equivalence(answer, gold, equal):
    assert is_equivalent(answer, gold) is equal


def test_boxed_half_scores_against_gold_point_five(math_benchmark):
    item = crafted("0.5")
    (score,) = math_benchmark.score([item], [Prediction(item_id=item.item_id, outputs=("So $\\boxed{\\frac{1}{2}}$",))],
                                    math_benchmark.task_spec())
    assert (score.values, score.answer) == ({"exact_match": 1.0}, "\\frac{1}{2}")


def test_reasoning_model_answer_after_think_and_cut_off_is_unanswered(math_benchmark):
    spec, item = math_benchmark.task_spec("chat_cot_0shot"), crafted("7")
    done = Prediction(item_id=item.item_id, outputs=("<think>maybe \\boxed{6}</think>It is $\\boxed{7}$.",))
    cut = Prediction(item_id=item.item_id, outputs=("<think>maybe \\boxed{7}, let me check",))
    (done_score,) = math_benchmark.score([item], [done], spec, ScoringContext(reasoning_model=True))
    (cut_score,) = math_benchmark.score([item], [cut], spec, ScoringContext(reasoning_model=True))
    assert (done_score.values, done_score.unanswered) == ({"exact_match": 1.0}, False)
    assert (cut_score.values, cut_score.answer, cut_score.unanswered) == ({"exact_match": 0.0}, None, True)


@pytest.mark.parametrize("variant", ["minerva_4shot", "chat_cot_0shot"])
def test_gold_scores_one_and_empty_zero_clustered_by_subject(math_benchmark, items, variant):
    spec, sample = math_benchmark.task_spec(variant), items[::25]
    bench = math_benchmark
    gold = bench.aggregate(bench.score(sample, bench.gold_predictions(sample, spec), spec), spec)
    empty = bench.aggregate(bench.score(sample, bench.empty_predictions(sample, spec), spec), spec)
    assert (gold[0].name, gold[0].value, gold[0].n_clusters) == ("exact_match", 1.0, 7)
    assert empty[0].value == 0.0


def test_hub_loading_reads_the_seven_subject_configs(math_benchmark, items, monkeypatch):
    """The hub is unreachable here: `datasets.load_dataset` serves the offline rows of each subject instead."""
    import datasets

    by_subject = {}
    for item in items:
        by_subject.setdefault(item.group, []).append(
            {"problem": item.data["problem"], "level": item.data["level"], "type": "?",
             "solution": item.data["solution"]})
    calls = []

    def fake_load_dataset(repo, config=None, split=None, revision=None):
        calls.append((repo, config, split, revision))
        return datasets.Dataset.from_list(by_subject[config])

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    assert load_test_items("math", "hf", revision="abc123") == items
    assert calls[0] == ("EleutherAI/hendrycks_math", "algebra", "test", "abc123") and len(calls) == 7
