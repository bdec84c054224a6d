"""The image benchmarks without a model: their metrics (worked by hand), lmms-eval's extraction, the generated
fixture (labelled, answers known, stable), images stored content-addressed and sent by id."""

from __future__ import annotations

import io

import pytest

from llmeval_assets.benchmarks.base import Prediction, get_benchmark
from llmeval_assets.benchmarks.chartqa import relaxed_correct
from llmeval_assets.benchmarks.dispatch import RecordingEngine, request_digests, request_record
from llmeval_assets.benchmarks.docvqa import anls
from llmeval_assets.benchmarks.textvqa import normalize_answer, vqa_accuracy
from llmeval_assets.benchmarks.visual_qa import FIXTURE_NOTE, image_path, load_image
from llmeval_assets.engine.multimodal import data_url, with_images
from llmeval_assets.engine.requests import GenerateRequest, ImageInput, Sampling, stable_hash

IMAGE_BENCHMARKS = ("chartqa", "docvqa", "textvqa", "ai2d", "scienceqa")


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LLMEVAL_DATASETS_CACHE", str(tmp_path / "datasets_cache"))


def test_relaxed_accuracy_allows_five_percent_on_numbers_only():
    assert relaxed_correct("104", "100") and relaxed_correct("95", "100")
    assert not relaxed_correct("106", "100")
    assert relaxed_correct("12%", "0.12")  # a percentage is divided by 100
    assert relaxed_correct("Blue", "blue") and not relaxed_correct("blues", "blue")
    assert relaxed_correct("0", "0") and not relaxed_correct("0.01", "0")  # no tolerance around a gold 0


def test_anls_threshold_and_best_answer():
    assert anls("Apples ", ["apples"]) == 1.0
    assert anls("aples", ["apples"]) == pytest.approx(1 - 1 / 6)
    assert anls("xyz", ["apples"]) == 0.0  # similarity below 0.5 scores 0
    assert anls("pears", ["apples", "Pears"]) == 1.0


def test_vqa_accuracy_over_ten_choose_nine():
    answers = ["two"] * 3 + ["three"] * 7
    # "2" normalizes to "two"'s digit: 3 matches; leaving one of them out leaves 2 (2/3), else 3 (1.0)
    assert vqa_accuracy("2", answers) == pytest.approx((3 * 2 / 3 + 7 * 1.0) / 10)
    assert vqa_accuracy("Three.", answers) == 1.0
    assert vqa_accuracy("four", answers) == 0.0
    assert normalize_answer("The  3.5 Apples!") == "3.5 apples"


@pytest.mark.parametrize("name", ["ai2d", "scienceqa"])
def test_choice_extraction_as_lmms_eval(name):
    benchmark = get_benchmark(name)
    assert benchmark.extract_letter("B. square") == "B"
    assert benchmark.extract_letter(" c ") == "C"
    assert benchmark.extract_letter("The answer is B") != "B"


@pytest.mark.parametrize("name", IMAGE_BENCHMARKS)
def test_fixture_items_are_labelled_and_their_known_answers_score_one(name):
    benchmark = get_benchmark(name)
    items = benchmark.load_items("offline")
    assert len(items) == 6 and all(item.data["fixture"] == FIXTURE_NOTE for item in items)
    assert items == benchmark.load_items("offline")  # the same image ids every time: a stable snapshot hash
    spec = benchmark.task_spec()
    gold = benchmark.score(items, benchmark.gold_predictions(items, spec), spec)
    empty = benchmark.score(items, benchmark.empty_predictions(items, spec), spec)
    assert {s.values[spec.primary_metric] for s in gold} == {1.0}
    assert {s.values[spec.primary_metric] for s in empty} == {0.0}
    wrong = [Prediction(item_id=item.item_id, outputs=("zebra",)) for item in items]
    assert {s.values[spec.primary_metric] for s in benchmark.score(items, wrong, spec)} == {0.0}


def test_chart_fixture_answers_follow_the_drawn_values():
    items = get_benchmark("chartqa").load_items("offline")
    asked = [item for item in items if item.data["question"].startswith("What is the value")]
    assert asked and all(item.data["answer"].isdigit() and 10 <= int(item.data["answer"]) <= 90 for item in asked)
    assert {item.group for item in items} == {"human_test", "augmented_test"}


def test_requests_carry_images_by_content_id():
    benchmark = get_benchmark("chartqa")
    items = benchmark.load_items("offline")
    recorder = RecordingEngine()
    benchmark.predict(recorder, items, benchmark.task_spec())
    request = recorder.requests[0]
    assert isinstance(request, GenerateRequest)
    (image,) = request.images
    assert image.image_id == items[0].data["images"][0] and image_path(image.image_id).is_file()
    record = request_record(request)
    assert record["images"] == [image.image_id]  # the id, never the bytes
    assert "data" not in str(record)
    assert request.messages[0]["content"].endswith("\nAnswer the question with a single word.")
    # another image, same text: another prompt hash and item digest
    other = ImageInput.from_bytes(load_image(items[1].data["images"][0]).data)
    swapped = GenerateRequest(request.request_id, request.sampling, messages=request.messages, images=(other,))
    assert swapped.prompt_hash() != request.prompt_hash()
    assert request_digests([swapped]) != request_digests([request])


def test_text_only_requests_keep_their_hash_and_record():
    request = GenerateRequest("q1", Sampling(), messages=({"role": "user", "content": "hi"},))
    assert request.prompt_hash() == stable_hash({"prompt": None, "messages": request.messages})
    assert "images" not in request_record(request)


def test_images_only_go_with_messages():
    with pytest.raises(ValueError, match="images go with messages"):
        GenerateRequest("q1", Sampling(), prompt="hi", images=(ImageInput.from_bytes(b"x"),))


def test_images_join_the_last_user_turn():
    image = ImageInput.from_bytes(b"\x89PNG\r\n\x1a\nfake")
    messages = ({"role": "system", "content": "be brief"}, {"role": "user", "content": "What?"})
    parts = with_images(messages, (image, image), "q1")
    assert parts[0] == messages[0]
    assert parts[1]["content"] == [{"type": "image"}, {"type": "image"}, {"type": "text", "text": "What?"}]
    assert with_images(messages, (image,), "q1", placeholder="<image>\n")[1]["content"] == "<image>\nWhat?"
    url_part = with_images(messages, (image,), "q1", data_urls=True)[1]["content"][0]
    assert url_part == {"type": "image_url", "image_url": {"url": data_url(image.data)}}
    assert data_url(image.data).startswith("data:image/png;base64,")


def test_hub_rows_keep_image_questions_and_store_their_images(monkeypatch):
    """The hub is unreachable here: `load_hf_rows` is replaced by rows shaped as lmms-lab's ScienceQA-IMG export
    (a decoded PIL image, or None for the text-only questions of full ScienceQA)."""
    from PIL import Image

    import llmeval_assets.benchmarks.visual_qa as visual_qa

    picture = Image.new("RGB", (30, 20), "green")
    rows = [{"question": "Which colour?", "choices": ["red", "green"], "answer": 1, "hint": "", "subject": "nat",
             "image": picture},
            {"question": "No picture?", "choices": ["yes", "no"], "answer": 0, "hint": "", "subject": "nat",
             "image": None}]
    monkeypatch.setattr(visual_qa, "load_hf_rows", lambda split: rows)
    benchmark = get_benchmark("scienceqa")
    [item] = benchmark.load_items("hf", repo="lmms-lab/ScienceQA", config="ScienceQA-IMG", split="test",
                                  revision=None)
    assert item.item_id == "test-0" and "fixture" not in item.data
    stored = load_image(item.data["images"][0])
    assert Image.open(io.BytesIO(stored.data)).size == (30, 20)
    assert benchmark.question_text(item) == ("Which colour?\nA. red\nB. green\n"
                                             "Answer with the option's letter from the given choices directly.")
