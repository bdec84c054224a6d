"""MMLU, ARC-Challenge and HellaSwag on their real offline data: rendered prompts (exact strings, lm-eval's
formats), requests sent through the fake engine, and their metrics."""

import pytest

from llmeval_assets.benchmarks import Item, Prediction, ScoringContext, get_benchmark
from llmeval_assets.benchmarks.hellaswag import preprocess
from tests.benchmarks.data import load_test_items
from tests.benchmarks.fakes import FakeEngine

CHAT_QUESTION = (
    "Given the following question and four candidate answers (A, B, C and D), choose the best answer.\n"
    "Question: {question}\n{options}\n"
    'Your response should end with "The best answer is [the_answer_letter]" where the [the_answer_letter] is '
    "one of A, B, C or D."
)


@pytest.fixture(scope="module")
def mmlu_items():
    items = load_test_items("mmlu")
    return [i for i in items if i.split == "test"], [i for i in items if i.split == "fewshot"]


def test_mmlu_offline_counts(mmlu_items):
    test, fewshot = mmlu_items
    assert (len(test), len(fewshot)) == (14042, 285)
    assert len({i.group for i in test}) == 57


def test_mmlu_5shot_prompt(mmlu_items):
    test, fewshot = mmlu_items
    mmlu = get_benchmark("mmlu")
    engine = FakeEngine()
    mmlu.predict(engine, test[:1], mmlu.task_spec("5shot"), fewshot)
    (request,) = engine.requests
    assert request.choices == (" A", " B", " C", " D")
    assert request.context == (
        "The following are multiple choice questions (with answers) about abstract algebra.\n\n"
        "Find all c in Z_3 such that Z_3[x]/(x^2 + c) is a field.\nA. 0\nB. 1\nC. 2\nD. 3\nAnswer: B\n\n"
        "Statement 1 | If aH is an element of a factor group, then |aH| divides |a|. Statement 2 | If H and K are "
        "subgroups of G then HK is a subgroup of G.\nA. True, True\nB. False, False\nC. True, False\nD. False, True\n"
        "Answer: B\n\n"
        "Statement 1 | Every element of a group generates a cyclic subgroup of the group. Statement 2 | The "
        "symmetric group S_10 has 10 elements.\nA. True, True\nB. False, False\nC. True, False\nD. False, True\n"
        "Answer: C\n\n"
        "Statement 1| Every function from a finite set onto itself must be one to one. Statement 2 | Every "
        "subgroup of an abelian group is abelian.\nA. True, True\nB. False, False\nC. True, False\nD. False, True\n"
        "Answer: A\n\n"
        "Find the characteristic of the ring 2Z.\nA. 0\nB. 3\nC. 12\nD. 30\nAnswer: A\n\n"
        "Find the degree for the given field extension Q(sqrt(2), sqrt(3), sqrt(18)) over Q.\n"
        "A. 0\nB. 4\nC. 2\nD. 6\nAnswer:")


def test_mmlu_0shot_prompt_and_exemplars_come_from_the_items_subject(mmlu_items):
    test, fewshot = mmlu_items
    mmlu = get_benchmark("mmlu")
    engine = FakeEngine()
    anatomy = next(i for i in test if i.group == "anatomy")
    mmlu.predict(engine, [test[0], anatomy], mmlu.task_spec("0shot"), fewshot)
    assert engine.requests[0].context == (
        "The following are multiple choice questions (with answers) about abstract algebra.\n\n"
        "Find the degree for the given field extension Q(sqrt(2), sqrt(3), sqrt(18)) over Q.\n"
        "A. 0\nB. 4\nC. 2\nD. 6\nAnswer:")
    engine = FakeEngine()
    mmlu.predict(engine, [anatomy], mmlu.task_spec("5shot"), fewshot)
    context = engine.requests[0].context
    assert context.startswith("The following are multiple choice questions (with answers) about anatomy.\n\n")
    assert context.count("\nAnswer:") == 6
    assert all(shot.data["question"].strip() in context for shot in fewshot if shot.group == "anatomy")


def test_mmlu_chat_variant_prompt_and_letter_scoring(mmlu_items):
    test, fewshot = mmlu_items
    mmlu = get_benchmark("mmlu")
    spec = mmlu.task_spec("chat_5shot")
    assert (spec.sampling.max_tokens, spec.sampling.temperature, spec.use_chat_template) == (10, 0.0, True)
    engine = FakeEngine(generate=lambda request: " C.")
    predictions = mmlu.predict(engine, test[:2], spec, fewshot)
    prompt = engine.requests[0].prompt
    first_shot = CHAT_QUESTION.format(question="Find all c in Z_3 such that Z_3[x]/(x^2 + c) is a field.",
                                      options="A. 0\nB. 1\nC. 2\nD. 3")
    assert prompt.startswith(f"<|user|>\n{first_shot}\n<|assistant|>\nThe best answer is B.\n<|user|>\n")
    last = CHAT_QUESTION.format(
        question="Find the degree for the given field extension Q(sqrt(2), sqrt(3), sqrt(18)) over Q.",
        options="A. 0\nB. 4\nC. 2\nD. 6")
    assert prompt.endswith(f"<|user|>\n{last}\n<|assistant|>\nThe best answer is")
    assert prompt.count("<|assistant|>") == 6
    scores = mmlu.score(test[:2], predictions, spec)
    assert [(s.answer, s.target, s.values["acc"]) for s in scores] == [("C", "B", 0.0), ("C", "C", 1.0)]


def test_mmlu_chat_variant_reasoning_model_cut_off_is_unanswered():
    mmlu = get_benchmark("mmlu")
    spec = mmlu.task_spec("chat_5shot")
    item = Item("abstract_algebra/test/0", {"question": "q", "choices": ["1", "2", "3", "4"], "gold": 2},
                group="abstract_algebra")
    cut = Prediction(item_id=item.item_id, outputs=("Let me think: C is plausible",))
    (score,) = mmlu.score([item], [cut], spec, ScoringContext(reasoning_model=True))
    assert (score.unanswered, score.answer, score.values["acc"]) == (True, None, 0.0)
    done = Prediction(item_id=item.item_id, outputs=("C looks wrong, B too</think> C",))
    (score,) = mmlu.score([item], [done], spec, ScoringContext(reasoning_model=True))
    assert (score.unanswered, score.answer, score.values["acc"]) == (False, "C", 1.0)
    metrics = {m.name: m.value for m in mmlu.aggregate(mmlu.score([item], [cut], spec,
                                                                   ScoringContext(reasoning_model=True)), spec)}
    assert metrics["unanswered"] == 1.0


def test_mmlu_macro_and_micro_averages():
    mmlu = get_benchmark("mmlu")
    spec = mmlu.task_spec("0shot")
    # anatomy: 3 questions, 1 right; astronomy: 1 question, right -> micro 2/4, macro (1/3 + 1) / 2
    items = [Item(f"{subject}/test/{i}", {"question": "q", "choices": ["a", "b", "c", "d"], "gold": 0}, group=subject)
             for subject, i in [("anatomy", 0), ("anatomy", 1), ("anatomy", 2), ("astronomy", 0)]]
    right, wrong = (0.0, -1.0, -1.0, -1.0), (-1.0, 0.0, -1.0, -1.0)
    predictions = [Prediction(item_id=i.item_id, logprobs=lp)
                   for i, lp in zip(items, [right, wrong, wrong, right], strict=True)]
    metrics = {m.name: m for m in mmlu.aggregate(mmlu.score(items, predictions, spec), spec)}
    assert metrics["acc"].value == pytest.approx(0.5)
    assert metrics["acc"].n_clusters == 2  # micro stderr clustered by subject
    assert metrics["acc_macro"].value == pytest.approx(2 / 3)


def test_choice_requests_fall_back_to_loglikelihood_when_the_engine_refuses(mmlu_items):
    test, fewshot = mmlu_items
    mmlu = get_benchmark("mmlu")

    class MultiTokenLetters(FakeEngine):  # a tokenizer where " A" is two tokens: the engine refuses the request
        def choice_logprobs(self, requests):
            return [r.__class__(**{**r.__dict__, "logprobs": (), "error": "choice ' A' is 2 tokens"})
                    for r in super().choice_logprobs(requests)]

    engine = MultiTokenLetters(loglikelihood=lambda r: -1.0 if r.continuation == " C" else -5.0)
    (prediction,) = mmlu.predict(engine, test[:1], mmlu.task_spec("5shot"), fewshot)
    assert [r.continuation for r in engine.requests[1:]] == [" A", " B", " C", " D"]
    assert prediction.logprobs == (-5.0, -5.0, -1.0, -5.0) and prediction.error is None


def test_arc_challenge_prompts_and_acc_norm():
    arc = get_benchmark("arc_challenge")
    items = load_test_items("arc_challenge")
    assert len(items) == 1172
    assert len(load_test_items("arc_challenge", split="validation")) == 299
    item = items[0]
    spec = arc.task_spec()
    assert spec.metrics == ("acc", "acc_norm")
    # the shorter wrong answer (32 chars, -3.0) wins on total log-likelihood; the gold one (35 chars, -3.2) per
    # character: -3.2 / 35 = -0.0914 > -3.0 / 32 = -0.0938
    lengths = [len(c) for c in item.data["choices"]]
    engine = FakeEngine(loglikelihood=lambda r: -3.0 if r.continuation == " Planetary density will decrease."
                        else (-3.2 if r.continuation == " Planetary days will become shorter." else -50.0))
    (prediction,) = arc.predict(engine, [item], spec)
    question = ("Question: An astronomer observes that a planet rotates faster after a meteorite impact. "
                "Which is the most likely effect of this increase in rotation?\nAnswer:")
    assert [(r.context, r.continuation) for r in engine.requests] == [
        (question, " Planetary density will decrease."), (question, " Planetary years will become longer."),
        (question, " Planetary days will become shorter."), (question, " Planetary gravity will become stronger.")]
    assert item.data["gold"] == 2 and lengths[2] > lengths[0]
    (score,) = arc.score([item], [prediction], spec)
    assert score.values == {"acc": 0.0, "acc_norm": 1.0}


def test_arc_challenge_chat_prompt_adapts_to_the_number_of_choices():
    arc = get_benchmark("arc_challenge")
    items = load_test_items("arc_challenge")
    five = next(i for i in items if len(i.data["choices"]) == 5)
    engine = FakeEngine(generate=lambda r: " E.")
    spec = arc.task_spec("chat_0shot")
    predictions = arc.predict(engine, [items[0], five], spec)
    assert engine.requests[0].prompt == "<|user|>\n" + CHAT_QUESTION.format(
        question="An astronomer observes that a planet rotates faster after a meteorite impact. Which is the most "
                 "likely effect of this increase in rotation?",
        options="A. Planetary density will decrease.\nB. Planetary years will become longer.\n"
                "C. Planetary days will become shorter.\nD. Planetary gravity will become stronger.",
    ) + "\n<|assistant|>\nThe best answer is"
    assert "five candidate answers (A, B, C, D and E)" in engine.requests[1].prompt
    assert "one of A, B, C, D or E." in engine.requests[1].prompt
    answers = [s.answer for s in arc.score([items[0], five], predictions, spec)]
    assert answers == [None, "E"]  # "E" is not a choice of a four-choice question


def test_hellaswag_preprocessing_and_prompt():
    # lm-eval's exact behaviour, quirks included: the space left where "[header]" was is kept
    assert preprocess(" [header] How to x [title] Obtain a diploma. [step] Do it. ") == \
        " How to x. Obtain a diploma. Do it."
    hellaswag = get_benchmark("hellaswag")
    items = load_test_items("hellaswag")
    assert len(items) == 10042
    engine = FakeEngine()
    hellaswag.predict(engine, items[:2], hellaswag.task_spec())
    assert [(r.context, r.continuation) for r in engine.requests[:4]] == [
        ("Roof shingle removal: A man is sitting on a roof. He", c) for c in
        (" is using wrap to wrap a pair of skis.", " is ripping level tiles off.", " is holding a rubik's cube.",
         " starts pulling up roofing on a roof.")]
    wikihow = next(i for i in items if i.data["source_id"] == "wikihow~4")
    assert wikihow.data["context"] == (
        "Personal Care and Style: How to become a fashion consultant. Obtain your high school diploma or ged. "
        "This job requires a high school diploma or equivalent, so make sure to apply yourself and finish school. "
        "If your high school offers these classes, take art, design, and sewing to familiarize yourself with "
        "foundational concepts in fashion.")
    # "[title]" at the very start has no preceding space: removed, its following space kept (as in lm-eval)
    assert wikihow.data["choices"][3] == " Earn a bachelor's degree in a fashion-related field. Degrees for the " \
        "fashion industry include art, fashion merchandising, and marketing."


@pytest.mark.parametrize("name", ["mmlu", "arc_challenge", "hellaswag"])
def test_gold_scores_one_and_empty_scores_zero_on_every_variant(name):
    benchmark = get_benchmark(name)
    items = [i for i in load_test_items(name) if i.split == "test"][:300]
    for variant in benchmark.variants():
        spec = benchmark.task_spec(variant)
        gold = benchmark.aggregate(benchmark.score(items, benchmark.gold_predictions(items, spec), spec), spec)
        empty = benchmark.aggregate(benchmark.score(items, benchmark.empty_predictions(items, spec), spec), spec)
        assert {m.name: m.value for m in gold if m.name != "unanswered"} == dict.fromkeys(spec.metrics, 1.0) | (
            {"acc_macro": 1.0} if name == "mmlu" else {})
        assert all(m.value == 0.0 for m in empty)
