"""`macrograd serve CHECKPOINT [--host 127.0.0.1] [--port 8000]`: run the inference server."""
from __future__ import annotations

import argparse


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="macrograd serve", description="Serve a classifier over HTTP "
                                     "(POST /predict, GET /health, GET /metadata, the drawing page at /, "
                                     "the OpenAPI page at /docs).")
    parser.add_argument("checkpoint", help="a serving checkpoint (macrograd.serve.save_served_model; "
                                           "python -m macrograd.serve.train_demo writes one)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--max-batch", type=int, default=256)
    args = parser.parse_args(argv)

    import uvicorn

    from .app import create_app

    app = create_app(args.checkpoint, max_batch=args.max_batch)
    print(f"serving {args.checkpoint} on http://{args.host}:{args.port}/  (API docs: /docs)", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    return 0
