"""`modeleval serve` where vLLM is installed serves vLLM's own OpenAI-compatible server, set up as the vLLM
engine is, and the plugin evaluates through it (`--model openai:URL#name`); SIGTERM ends it with every
process it started."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
import urllib.request

from evalkit import require_vllm
from processes import left_behind, tagged_env

READY = re.compile(r"modeleval serve: listening on (http://\S+/v1) \(model sha256:[0-9a-f]+; vLLM's server, cpu ")


def test_serve_runs_vllms_server_and_ends_with_its_processes(tmp_path):
    require_vllm()
    tag, env = tagged_env()
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        server = subprocess.Popen([sys.executable, "-m", "pytest_modeleval.cli", "serve", "--model", "embedded",
                                   "--port", "0", "--served-name", "smol"], stdout=out, stderr=subprocess.STDOUT,
                                  env=env)
    try:
        deadline, found = time.monotonic() + 600, None
        while found is None and time.monotonic() < deadline and server.poll() is None:
            found = READY.search(log.read_text(errors="replace"))
            time.sleep(1)
        assert found, log.read_text(errors="replace")[-3000:]
        base = found.group(1)
        with urllib.request.urlopen(f"{base}/models", timeout=30) as response:
            assert [m["id"] for m in json.load(response)["data"]] == ["smol"]
        (tmp_path / "test_sums.py").write_text(
            "import pytest_modeleval as modeleval\n\n"
            "@modeleval.suite('sums', data=[{'q': 'What is 2+3?', 'a': '5'}, {'q': 'What is 4+4?', 'a': '8'}],\n"
            "                 chat=True, request=modeleval.Generate('{q} Answer with a number.', max_tokens=8))\n"
            "def test_sums(item, completion):\n    assert item['a'] in completion\n")
        run = subprocess.run([sys.executable, "-m", "pytest", str(tmp_path / "test_sums.py"), f"--model=openai:{base}#smol",
                              f"--eval-db={tmp_path / 'results.sqlite'}", "-p", "no:cacheprovider"],
                             capture_output=True, text=True, timeout=300, cwd=tmp_path)
        # both items answered through the server (right or wrong: the 135M model's sums are its own business)
        assert run.returncode == 0 and re.search(r"\nsums\s+2\s+\d+\s+\d+\s+0\s", run.stdout), run.stdout[-3000:]
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    assert server.returncode == 0 and left_behind(tag) == [], "the server's processes outlived it"
