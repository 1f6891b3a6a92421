"""`modeleval serve`: serve a local checkpoint over an OpenAI-compatible HTTP API (runtime/server.py)."""

from __future__ import annotations

import signal
import sys


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
                        help="most requests computed in one batch (default 16)")
    parser.set_defaults(run=run)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


def run(args) -> int:
    from .. import modelref
    from ..engines import hf
    from ..runtime.server import App, make_server

    try:
        resolved = modelref.resolve(args.model)
        engine = hf.load(resolved, batch_size=args.batch_size)
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
