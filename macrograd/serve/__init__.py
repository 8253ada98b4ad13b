"""`macrograd.serve`: an HTTP inference server for trained classifiers (needs the `serve` extra).

    python -m macrograd.serve.train_demo digits.safetensors   # a small MNIST classifier
    macrograd serve digits.safetensors                        # http://127.0.0.1:8000/

model.py holds the serving checkpoint format, preprocess.py the request decoding, app.py the
FastAPI app, cli.py the command, static/index.html the drawing page.
"""
from .model import ServedModel, ServeInfo, load_served_model, save_served_model


def create_app(checkpoint, **options):
    """The FastAPI app (imported on use: FastAPI is an optional dependency)."""
    from .app import create_app as _create_app

    return _create_app(checkpoint, **options)


def main(argv=None) -> int:
    from .cli import main as _main

    return _main(argv)


__all__ = ["ServeInfo", "ServedModel", "create_app", "load_served_model", "main", "save_served_model"]
