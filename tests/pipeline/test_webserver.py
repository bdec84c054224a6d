"""The Dagster UI's server on the project's workspace.yaml: its GraphQL API lists the assets, their lineage and the
model partitions."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from llmeval_assets.instance import get_instance
from llmeval_assets.registry import load_registry

ROOT = Path(__file__).resolve().parents[2]
QUERY = """{ assetNodes { assetKey { path } groupName isPartitioned partitionKeys dependencyKeys { path } } }"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def webserver(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    monkeypatch.setenv("LLMEVAL_HOME", str(tmp_path / "home"))
    get_instance().add_dynamic_partitions("models", ["smollm2_135m", "llama31_8b"])
    port = free_port()
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("dagster-webserver")), "-w", "workspace.yaml", "-h", "127.0.0.1",
         "-p", str(port)], cwd=ROOT, env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        start_new_session=True)
    url = f"http://127.0.0.1:{port}/graphql"
    deadline = time.monotonic() + 240
    try:
        while True:
            assert process.poll() is None, process.stderr.read().decode()[-3000:]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/server_info", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "webserver did not start"
            time.sleep(1)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)


def test_graphql_lists_assets_lineage_and_model_partitions(webserver):
    deadline = time.monotonic() + 240
    while True:  # the code location loads in the background after the server starts
        response = httpx.post(webserver, json={"query": QUERY}, timeout=60).json()
        nodes = response.get("data", {}).get("assetNodes") or []
        if nodes or time.monotonic() > deadline:
            break
        time.sleep(2)
    by_key = {"/".join(n["assetKey"]["path"]): n for n in nodes}
    supported = [d for d, e in load_registry().datasets.items() if e.supported]
    for dataset in supported:
        predictions, scores = by_key[f"predictions_{dataset}"], by_key[f"scores_{dataset}"]
        assert predictions["isPartitioned"] and predictions["partitionKeys"] == ["smollm2_135m", "llama31_8b"]
        assert {"/".join(d["path"]) for d in predictions["dependencyKeys"]} == {"model_weights", f"dataset_{dataset}"}
        assert {"/".join(d["path"]) for d in scores["dependencyKeys"]} == {f"predictions_{dataset}"}
    # registry -> datasets / weights -> predictions -> scores -> DuckDB -> dbt reports
    assert f"scores_{supported[0]}" in {"/".join(d["path"]) for d in by_key["evals/metrics"]["dependencyKeys"]}
    assert {"/".join(d["path"]) for d in by_key["staging/stg_metrics"]["dependencyKeys"]} == {"evals/metrics"}
    assert "staging/stg_metrics" in {"/".join(d["path"]) for d in by_key["reports/leaderboard"]["dependencyKeys"]}
    assert by_key["model_weights"]["groupName"] == "models"
