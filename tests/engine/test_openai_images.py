"""The OpenAI-compatible backend sends a request's images as image_url content parts (data URLs) in its last user
turn, against a small local chat-completions server written here that records what it receives."""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from llmeval_assets.engine.openai_engine import OpenAIEngine
from llmeval_assets.engine.requests import GenerateRequest, ImageInput, Sampling

PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"fixture image bytes"


class RecordingChatServer:
    def __init__(self) -> None:
        self.bodies: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def reply(self, payload: dict) -> None:
                body = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                self.reply({"data": [{"id": "vlm"}]})

            def do_POST(self) -> None:
                server.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.reply({"choices": [{"message": {"content": "B"}, "finish_reason": "stop"}],
                            "usage": {"prompt_tokens": 40, "completion_tokens": 1}})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_images_go_as_image_url_parts_before_the_text():
    server = RecordingChatServer()
    engine = OpenAIEngine(server.url, "vlm")
    image = ImageInput.from_bytes(PNG_BYTES)
    messages = ({"role": "system", "content": "be brief"}, {"role": "user", "content": "Which letter?"})
    try:
        with_image, text_only = engine.generate([
            GenerateRequest("img", Sampling(max_tokens=4), messages=messages, images=(image, image)),
            GenerateRequest("txt", Sampling(max_tokens=4), messages=messages)])
    finally:
        engine.close()
        server.close()
    assert with_image.completions[0].text == "B" and with_image.error is None
    sent = next(b for b in server.bodies if isinstance(b["messages"][1]["content"], list))
    assert sent["messages"][0] == messages[0]
    first, second, text = sent["messages"][1]["content"]
    assert first == second == {"type": "image_url", "image_url": {
        "url": "data:image/png;base64," + base64.b64encode(PNG_BYTES).decode()}}
    assert text == {"type": "text", "text": "Which letter?"}
    assert len(server.bodies) == 2  # the text-only request goes as plain string content
    assert any(b["messages"][1]["content"] == "Which letter?" for b in server.bodies)
    assert with_image.prompt_hash != text_only.prompt_hash
