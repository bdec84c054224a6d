"""Failed items of the image benchmarks, for the HTML report: a few items per (model, dataset) whose primary metric
scored 0, with their images' content ids and thumbnails (read from the snapshot the result was computed on and the
content-addressed image store)."""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass
from pathlib import Path

from llmeval_assets.reporting import connect_read_only, table_columns

FAILED_PER_RESULT = 4
THUMBNAIL_PX = 96


@dataclass(frozen=True)
class FailedImageItem:
    model: str
    dataset: str
    item_id: str
    image_ids: tuple[str, ...]
    thumbnails: tuple[str, ...]  # data URIs (PNG), "" where the image is no longer stored
    answer: str | None
    target: str | None
    fixture: bool


def failed_image_items(duckdb_path: Path, per_result: int = FAILED_PER_RESULT) -> list[FailedImageItem]:
    """Up to `per_result` failed items of each (model, dataset) result whose items carry images."""
    from llmeval_assets.snapshots import items_of_version

    if not duckdb_path.exists():
        return []
    con = connect_read_only(duckdb_path)
    try:
        if not {"sample_scores", "metrics", "partitions"} <= {table for table, _ in table_columns(con, "evals")}:
            return []
        rows = con.execute("""
            select s.model, s.dataset, s.item_id, s.answer, s.target, p.dataset_version
            from evals.sample_scores s
            join evals.metrics m on m.model = s.model and m.dataset = s.dataset and m.spec_hash = s.spec_hash
                 and m.metric = s.metric and m.is_primary
            join evals.partitions p on p.model = s.model and p.dataset = s.dataset and p.spec_hash = s.spec_hash
            where s.value <= m.value_min
            order by s.model, s.dataset, s.item_id""").fetchall()
    finally:
        con.close()
    failed: list[FailedImageItem] = []
    shown: dict[tuple[str, str], int] = {}
    items_cache: dict[tuple[str, str], dict] = {}
    for model, dataset, item_id, answer, target, version in rows:
        if shown.get((model, dataset), 0) >= per_result:
            continue
        key = (dataset, version)
        if key not in items_cache:
            try:
                items_cache[key] = {item.item_id: item for item in items_of_version(dataset, version)}
            except (FileNotFoundError, OSError, ValueError):
                items_cache[key] = {}
        item = items_cache[key].get(item_id)
        if item is None or not item.data.get("images"):
            continue
        image_ids = tuple(item.data["images"])
        failed.append(FailedImageItem(model, dataset, item_id, image_ids, tuple(thumbnail(i) for i in image_ids),
                                      answer, target, bool(item.data.get("fixture"))))
        shown[(model, dataset)] = shown.get((model, dataset), 0) + 1
    return failed


def thumbnail(image_id: str) -> str:
    """A PNG data URI of the stored image, at most THUMBNAIL_PX on its longer side; "" when it is not stored."""
    from PIL import Image

    from llmeval_assets.benchmarks.visual_qa import load_image

    try:
        image = Image.open(io.BytesIO(load_image(image_id).data)).convert("RGB")
    except (FileNotFoundError, ValueError, OSError):
        return ""
    image.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def failed_images_html(items: list[FailedImageItem], labels: dict[str, str]) -> str:
    """One strip per (model, dataset): thumbnail, item id, image ids, the answer given and the expected one."""
    strips: dict[tuple[str, str], list[FailedImageItem]] = {}
    for item in items:
        strips.setdefault((item.model, item.dataset), []).append(item)
    parts = []
    for (model, dataset), strip in strips.items():
        fixture = " (generated fixture images)" if any(i.fixture for i in strip) else ""
        cards = "".join(
            '<figure class="thumb">'
            + "".join(f'<img src="{uri}" alt="{html.escape(image_id)}">' if uri else
                      f'<span class="empty">{html.escape(image_id[:19])}… not stored</span>'
                      for uri, image_id in zip(item.thumbnails, item.image_ids, strict=True))
            + f"<figcaption><b>{html.escape(item.item_id)}</b><br>"
            + "<br>".join(f"<code>{html.escape(image_id[:19])}…</code>" for image_id in item.image_ids)
            + f"<br>answered {html.escape(repr(item.answer or ''))}<br>expected {html.escape(repr(item.target or ''))}"
            + "</figcaption></figure>"
            for item in strip)
        parts.append(f"<h3>{html.escape(labels.get(model, model))} · {html.escape(dataset)}{fixture}</h3>"
                     f'<div class="thumbs">{cards}</div>')
    return "".join(parts)


THUMBS_CSS = """
.thumbs { display: flex; gap: 12px; flex-wrap: wrap; }
.thumb { margin: 0; font-size: 12px; max-width: 180px; }
.thumb img { border: 1px solid #d1d5db; border-radius: 4px; display: block; }
"""
