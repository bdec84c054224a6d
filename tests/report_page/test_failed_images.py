"""The report's strip of failed image items: thumbnails from the content-addressed store, image ids, answers."""

from __future__ import annotations

import base64
import io

from PIL import Image

from llmeval_assets.benchmarks.base import get_benchmark
from llmeval_assets.report_images import THUMBNAIL_PX, FailedImageItem, failed_images_html, thumbnail


def test_strip_shows_thumbnails_ids_and_answers(tmp_path, monkeypatch):
    monkeypatch.setenv("LLMEVAL_DATASETS_CACHE", str(tmp_path))
    item = get_benchmark("chartqa").load_items("offline")[0]
    (image_id,) = item.data["images"]
    uri = thumbnail(image_id)
    shrunk = Image.open(io.BytesIO(base64.b64decode(uri.removeprefix("data:image/png;base64,"))))
    assert max(shrunk.size) == THUMBNAIL_PX
    missing = "sha256:" + "0" * 64
    assert thumbnail(missing) == ""
    page = failed_images_html([
        FailedImageItem("m", "chartqa", item.item_id, (image_id,), (uri,), "7", item.data["answer"], True),
        FailedImageItem("m", "chartqa", "test-9", (missing,), ("",), None, "blue", True)], {"m": "Model M"})
    assert "<h3>Model M · chartqa (generated fixture images)</h3>" in page
    assert f'<img src="{uri}" alt="{image_id}">' in page and f"<code>{image_id[:19]}…</code>" in page
    assert f"answered &#x27;7&#x27;<br>expected &#x27;{item.data['answer']}&#x27;" in page
    assert "not stored" in page
