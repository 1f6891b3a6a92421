"""`modeleval serve`: serve a local checkpoint over an OpenAI-compatible HTTP API: vLLM's own server where
vLLM is installed (the engine `--eval-engine auto` picks), else ours on the transformers engine
(runtime/server.py)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("serve", help="serve a local model over an OpenAI-compatible HTTP API",
                                   description="Serve a local model over an OpenAI-compatible HTTP API "
                                               "(/v1/models, /v1/completions, /v1/chat/completions).")
    parser.add_argument("--model", default="embedded", metavar="REF",
                        help="local model reference, as for --model (default: embedded)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    parser.add_argument("--served-name", default=None, metavar="NAME",
                        help="model name clients send (default: the reference as given)")
    parser.add_argument("--batch-size", type=_positive_int, default=16, metavar="N",
                        help="most requests computed in one batch (default 16; the transformers engine)")
    parser.add_argument("--engine", choices=["auto", "hf", "vllm"], default="auto",
                        help="vllm: vLLM's own OpenAI-compatible server, set up as the vLLM engine is; hf: ours on "
                             "the transformers engine; auto (default): vllm where it is installed, else hf")
    parser.add_argument("--dtype", choices=["auto", "float32", "bfloat16", "float16"], default="auto",
                        help="as --eval-dtype (default auto)")
    parser.set_defaults(run=run)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


def run(args) -> int:
    from .. import modelref
    from ..engines import hf
    from ..engines.factory import engine_choice
    from ..runtime.server import App, make_server

    try:
        resolved = modelref.resolve(args.model)
        if engine_choice(resolved.kind, args.engine) == "vllm":
            return serve_vllm(args, resolved)
        engine = hf.load(resolved, batch_size=args.batch_size, dtype=args.dtype)
        app = App(engine, args.served_name or args.model, resolved.sha256, args.batch_size)
        server = make_server(app, args.host, args.port)
    except (ValueError, RuntimeError, OSError) as exc:  # a bad reference, a failed load, a busy port
        print(f"modeleval serve: error: {exc}", file=sys.stderr)
        return 2
    host, port = server.server_address[:2]
    print(f"modeleval serve: listening on http://{host}:{port}/v1 (model sha256:{resolved.short})", flush=True)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        app.close()
    return 0


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


VLLM_START_TIMEOUT = 900.0  # seconds for vLLM's server to load the model and answer /health


def serve_vllm(args, resolved) -> int:
    """vLLM's OpenAI-compatible server on the model's HF directory, with the engine's device, dtype, threads
    and KV cache; the same listening line once it answers, and it ends with this command (Ctrl-C, SIGTERM)."""
    from ..engines.hf import model_dir
    from ..engines.vllm_setup import apply_environment, plan

    directory = model_dir(resolved)
    setup = plan(directory, args.dtype, "eager")
    apply_environment(setup)
    port = args.port or free_port(args.host)
    command = [sys.executable, "-m", "vllm.entrypoints.cli.main", "serve", str(directory), "--host", args.host,
               "--port", str(port), "--served-model-name", args.served_name or args.model, "--dtype", setup.dtype,
               "--max-model-len", str(setup.max_model_len), "--seed", "0", "--enforce-eager"]
    if setup.kv_cache_bytes:
        command += ["--kv-cache-memory-bytes", str(setup.kv_cache_bytes)]
    server = subprocess.Popen(command)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        if not _answers(f"http://{args.host}:{port}/health", server):
            print(f"modeleval serve: error: vLLM's server exited with status {server.returncode} before it "
                  "answered (its output is above)", file=sys.stderr)
            return 2
        print(f"modeleval serve: listening on http://{args.host}:{port}/v1 (model sha256:{resolved.short}; "
              f"vLLM's server, {setup.describe()})", flush=True)
        server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        if server.poll() is None:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    return 0


def free_port(host: str) -> int:
    """A port nothing listens on now (vLLM's server takes a number, not 0)."""
    import socket

    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def _answers(url: str, server: subprocess.Popen, timeout: float = VLLM_START_TIMEOUT) -> bool:
    """Whether the server answers `url` before it exits or the timeout passes."""
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and server.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            time.sleep(1)
    return False
