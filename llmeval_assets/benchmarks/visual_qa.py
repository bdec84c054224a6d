"""What the image benchmarks (ScienceQA-IMG, AI2D, ChartQA, DocVQA, TextVQA) share.

- Images are stored content-addressed beside the snapshots (`datasets_cache/images/<sha256>.<ext>`); an item's
  data names them by content id (`images: ["sha256:..."]`), so a snapshot's content hash covers its images and a
  request record carries ids, never bytes.
- Each item is one chat turn: its images, then the question text with lmms-eval's `default` pre/post prompts
  (lmms-eval at commit 75571cfe, lmms_eval/tasks/<task>/; the `default` prompt kwargs, greedy decoding and its
  max_new_tokens), answered greedily.
- Offline (no image benchmark ships on PyPI) every one of them loads a small generated image set
  (`fixture_rows`, drawn with PIL here: bar charts, shapes, words), whose answers the generator knows. Every such
  item is marked `fixture`, and reports say so; its numbers say nothing about a model.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from llmeval_assets.benchmarks.base import Benchmark, Item, Prediction, SampleScore, ScoringContext, TaskSpec
from llmeval_assets.benchmarks.generation import prediction_from_result, predictions_by_item
from llmeval_assets.benchmarks.sources import DatasetFormatError, hub_split, load_hf_rows, unknown_source_error
from llmeval_assets.engine.base import InferenceEngine
from llmeval_assets.engine.requests import GenerateRequest, ImageInput, Sampling, image_content_id
from llmeval_assets.paths import datasets_cache_dir

LMMS_EVAL = "lmms-eval 75571cfe"
FIXTURE_NOTE = "generated fixture image (llmeval_assets.benchmarks.visual_qa), not benchmark data"


# ---------------------------------------------------------------------------------------------- image store


def image_store_dir() -> Path:
    return datasets_cache_dir() / "images"


def store_image(data: bytes) -> str:
    """Write an image's bytes under its content id (once); return the id."""
    image_id = image_content_id(data)
    path = image_path(image_id)
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".partial")
        temporary.write_bytes(data)
        temporary.replace(path)
    return image_id


def image_path(image_id: str) -> Path:
    digest = image_id.removeprefix("sha256:")
    return image_store_dir() / digest[:2] / digest


def load_image(image_id: str, dataset: str = "", item_id: str = "") -> ImageInput:
    """The stored image of `image_id`, checked against its id."""
    path = image_path(image_id)
    where = f"dataset {dataset!r}, item {item_id}: " if dataset else ""
    if not path.is_file():
        raise FileNotFoundError(f"{where}image {image_id} is not in {image_store_dir()} (rebuild the snapshot: "
                                f"`llmeval snapshot --dataset {dataset or '<dataset>'}`)")
    data = path.read_bytes()
    if image_content_id(data) != image_id:
        raise ValueError(f"{where}{path} does not hold image {image_id} (its content changed)")
    return ImageInput(image_id=image_id, data=data)


def row_image_bytes(value: Any, dataset: str, row: str | int, field: str = "image") -> bytes:
    """The encoded bytes of a hub row's image column (a `datasets` Image feature: a PIL image, or a dict with
    `bytes`), PNG-encoded when only a decoded image is at hand."""
    if isinstance(value, dict) and isinstance(value.get("bytes"), bytes | bytearray):
        return bytes(value["bytes"])
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if hasattr(value, "save"):
        buffer = io.BytesIO()
        value.convert("RGB").save(buffer, format="PNG")
        return buffer.getvalue()
    raise DatasetFormatError(dataset, row, field, f"expected an image, got {type(value).__name__}")


# ---------------------------------------------------------------------------------------------- the benchmark


class VisualQABenchmark(Benchmark):
    """One image question per item, answered by generation through the chat template (vision-language models
    are chat models)."""

    hf_image_field = "image"
    # one variant, lmms-eval's default prompt, for every model (vision-language models are chat models)
    default_variant = "lmms_eval"
    chat_variant = "lmms_eval"
    max_tokens = 16  # lmms-eval max_new_tokens of the task
    post_prompt = ""

    def variants(self) -> tuple[str, ...]:
        return (self.default_variant,)

    def load_items(self, source: str = "offline", **source_args: Any) -> list[Item]:
        if source == "offline":
            rows = fixture_rows(self.name)
        elif source == "hf":
            rows = load_hf_rows(hub_split(self.name, source_args))
        else:
            raise unknown_source_error(self.name, source)
        items = []
        for index, row in enumerate(rows):
            item = self.item_from_row(row, index)
            image = row.get(self.hf_image_field)
            if image is None:
                continue  # ScienceQA has text-only questions; ScienceQA-IMG is the ones with an image
            images = [store_image(row_image_bytes(image, self.name, item.item_id, self.hf_image_field))]
            data = {**item.data, "images": images, **({"fixture": FIXTURE_NOTE} if row.get("fixture") else {})}
            items.append(Item(item_id=item.item_id, data=data, group=item.group))
        return items

    def item_from_row(self, row: dict[str, Any], index: int) -> Item:
        """The item of a source row, without its images (added by load_items)."""
        raise NotImplementedError

    def question_text(self, item: Item) -> str:
        raise NotImplementedError

    def spec(self, variant: str | None, prompt_template: str, extraction: str, metrics: tuple[str, ...],
             reference: str) -> TaskSpec:
        return TaskSpec(
            benchmark=self.name, variant=self.resolve_variant(variant), benchmark_version=self.version,
            prompt_template=prompt_template, num_fewshot=0, fewshot_ids=(), use_chat_template=True,
            request_kind="generate", sampling=Sampling(max_tokens=self.max_tokens, temperature=0.0),
            extraction=extraction, metrics=metrics, primary_metric=metrics[0], reference=reference,
            extra=(("images", "before the question, one user turn"),),
        )

    def predict(self, engine: InferenceEngine, items: Sequence[Item], spec: TaskSpec,
                fewshot_pool: Sequence[Item] = ()) -> list[Prediction]:
        requests = [
            GenerateRequest(request_id=item.item_id, sampling=spec.sampling,
                            messages=({"role": "user", "content": self.question_text(item)},),
                            images=tuple(load_image(i, self.name, item.item_id) for i in item.data["images"]))
            for item in items
        ]
        results = engine.generate(requests)
        return [prediction_from_result(r.request_id, result) for r, result in zip(requests, results, strict=True)]

    def gold_predictions(self, items: Sequence[Item], spec: TaskSpec) -> list[Prediction]:
        return [Prediction(item_id=item.item_id, outputs=(self.gold_answer(item),)) for item in items]

    def gold_answer(self, item: Item) -> str:
        raise NotImplementedError


def completion(prediction: Prediction) -> str:
    return prediction.outputs[0] if prediction.outputs else ""


def option_letters(n: int) -> list[str]:
    return [chr(ord("A") + i) for i in range(n)]


def lettered_options(choices: Sequence[str]) -> str:
    return "\n".join(f"{letter}. {choice}" for letter, choice in zip(option_letters(len(choices)), choices,
                                                                    strict=True))


_PUNCTUATION = re.compile(r"[^\w\s]")


def strip_punctuation(text: str) -> str:
    return _PUNCTUATION.sub("", text)


# ---------------------------------------------------------------------------------------------- the fixture

_COLOURS = {"red": (220, 40, 40), "green": (40, 170, 60), "blue": (40, 80, 220), "yellow": (230, 200, 30)}
_SHAPES = ("circle", "square", "triangle", "star")
_WORDS = ("apples", "oranges", "pears", "plums", "chart", "diagram")
FIXTURE_SIZE = 6  # items per benchmark


def fixture_rows(benchmark: str) -> list[dict[str, Any]]:
    """The generated image set of one benchmark, rows in its hub format, with PNG bytes as the image. Everything
    is derived from the item's index, so the set (and its snapshot hash) never changes."""
    builders = {"chartqa": _chart_row, "docvqa": _document_row, "textvqa": _sign_row, "ai2d": _shape_row,
                "scienceqa": _colour_row}
    return [{**builders[benchmark](index), "fixture": True} for index in range(FIXTURE_SIZE)]


def _png(image: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


def _canvas(size: tuple[int, int] = (160, 120)) -> tuple[Any, Any]:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", size, (255, 255, 255))
    return image, ImageDraw.Draw(image)


def _values(index: int, count: int) -> list[int]:
    seed = int(hashlib.sha256(f"llmeval-fixture-{index}".encode()).hexdigest(), 16)
    return [10 * (1 + (seed >> (8 * k)) % 9) for k in range(count)]  # distinct-ish multiples of 10, 10..90


def _chart_row(index: int) -> dict[str, Any]:
    """A bar chart of three coloured bars with their values written above them."""
    image, draw = _canvas()
    colours = list(_COLOURS)[:3]
    values = _values(index, 3)
    for k, (colour, value) in enumerate(zip(colours, values, strict=True)):
        left = 20 + 45 * k
        draw.rectangle((left, 110 - value, left + 30, 110), fill=_COLOURS[colour])
        draw.text((left + 6, 98 - value), str(value), fill=(0, 0, 0))
    if index % 2 == 0:
        asked = index % 3
        question, answer = f"What is the value of the {colours[asked]} bar?", str(values[asked])
    else:
        tallest = max(range(3), key=lambda k: (values[k], -k))
        question, answer = "Which bar is the tallest?", colours[tallest]
    return {"question": question, "answer": answer, "type": "human_test" if index % 2 else "augmented_test",
            "image": {"bytes": _png(image)}}


def _document_row(index: int) -> dict[str, Any]:
    image, draw = _canvas((200, 100))
    word = _WORDS[index % len(_WORDS)]
    draw.text((20, 40), word, fill=(0, 0, 0))
    return {"questionId": str(1000 + index), "question": "What word is written in the document?",
            "answers": [word, word.capitalize()], "image": {"bytes": _png(image)}}


def _sign_row(index: int) -> dict[str, Any]:
    image, draw = _canvas((160, 100))
    word = _WORDS[(index + 2) % len(_WORDS)]
    draw.rectangle((10, 30, 150, 70), outline=(0, 0, 0), width=3)
    draw.text((30, 45), word, fill=(0, 0, 0))
    # ten annotators: seven read the word, three something else (VQA accuracy's 3-of-10 rule decides)
    answers = [word] * 7 + ["sign", "unanswerable", word + "s"]
    return {"question_id": 2000 + index, "question": "What word is written on the sign?", "answers": answers,
            "image": {"bytes": _png(image)}}


def _draw_shape(draw: Any, shape: str, fill: tuple[int, int, int]) -> None:
    box = (50, 30, 110, 90)
    if shape == "circle":
        draw.ellipse(box, fill=fill)
    elif shape == "square":
        draw.rectangle(box, fill=fill)
    elif shape == "triangle":
        draw.polygon([(80, 30), (110, 90), (50, 90)], fill=fill)
    else:
        draw.polygon([(80, 25), (90, 50), (115, 55), (95, 72), (100, 97), (80, 83), (60, 97), (65, 72),
                      (45, 55), (70, 50)], fill=fill)


def _shape_row(index: int) -> dict[str, Any]:
    image, draw = _canvas()
    shape = _SHAPES[index % len(_SHAPES)]
    _draw_shape(draw, shape, (0, 0, 0))
    options = list(_SHAPES)
    return {"question": "Which shape is shown in the diagram?", "options": options,
            "answer": str(options.index(shape)), "image": {"bytes": _png(image)}}


def _colour_row(index: int) -> dict[str, Any]:
    image, draw = _canvas()
    colour = list(_COLOURS)[index % len(_COLOURS)]
    _draw_shape(draw, _SHAPES[(index + 1) % len(_SHAPES)], _COLOURS[colour])
    choices = list(_COLOURS)
    return {"question": "What colour is the shape?", "hint": "The picture shows one shape.", "choices": choices,
            "answer": choices.index(colour), "subject": "natural science", "image": {"bytes": _png(image)}}


# ---------------------------------------------------------------------------------------------- multiple choice


class VisualChoiceBenchmark(VisualQABenchmark):
    """Multiple choice over lettered options; the extracted letter must equal the gold one (metric exact_match)."""

    def choices(self, item: Item) -> list[str]:
        return item.data["choices"]

    def gold_answer(self, item: Item) -> str:
        return option_letters(len(self.choices(item)))[item.data["gold"]]

    def extract_letter(self, text: str) -> str:
        raise NotImplementedError

    def score(self, items: Sequence[Item], predictions: Sequence[Prediction], spec: TaskSpec,
              ctx: ScoringContext | None = None) -> list[SampleScore]:
        by_id = predictions_by_item(self.name, items, predictions)
        scores = []
        for item in items:
            answer = self.extract_letter(completion(by_id[item.item_id]))
            target = self.gold_answer(item)
            scores.append(SampleScore(item_id=item.item_id, values={"exact_match": float(answer == target)},
                                      answer=answer or None, target=target, group=item.group))
        return scores
