"""The inference server: a FastAPI app around one served model.

    GET  /            a page where you draw a digit and see the class probabilities
    GET  /health      {"status": "ok"}
    GET  /metadata    the model: name, arguments, input shape, classes, parameters, metrics
    POST /predict     JSON {"inputs": one example or a batch}  or  an uploaded image
                      (multipart/form-data field "file", or a raw image/* body)
    GET  /docs        the OpenAPI page (the schema itself at /openapi.json)

Every bad request gets a 4xx with {"detail": "<what is wrong>"}: 400 (not JSON, not an image),
413 (body or batch too large), 415 (a content type the model does not take), 422 (JSON of the
wrong shape). The model runs in a worker thread, so the event loop keeps serving meanwhile.
"""
from __future__ import annotations

import json
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from starlette.datastructures import UploadFile

from .model import ServedModel, load_served_model
from .preprocess import BadInput, batch_from_json, image_from_bytes

PAGE = Path(__file__).with_name("static") / "index.html"

_PREDICT_BODY = {  # the two request forms, for the OpenAPI page
    "requestBody": {"required": True, "content": {
        "application/json": {"schema": {
            "type": "object", "required": ["inputs"],
            "properties": {"inputs": {"type": "array", "items": {},
                                      "description": "one example of the model's input shape, or a batch of them"}},
        }},
        "multipart/form-data": {"schema": {
            "type": "object", "required": ["file"],
            "properties": {"file": {"type": "string", "format": "binary", "description": "an image (PNG, JPEG, ...)"}},
        }},
    }},
    "responses": {"400": {"description": "not JSON / not an image"}, "413": {"description": "too large"},
                  "415": {"description": "unsupported content type"}, "422": {"description": "wrong shape"}},
}


def create_app(checkpoint, *, max_body_bytes: int = 2_000_000, max_batch: int = 256) -> FastAPI:
    """The app serving `checkpoint` (a path written by save_served_model, or a ServedModel)."""
    served = checkpoint if isinstance(checkpoint, ServedModel) else load_served_model(checkpoint)
    info = served.info
    app = FastAPI(title="macrograd inference server",
                  description=f"Serves a macrograd `{info.model}` ({info.kind} input {info.input_shape}).")

    @app.get("/health")
    def health():
        return {"status": "ok", "model": info.model}

    @app.get("/metadata")
    def metadata():
        return {"model": info.model, "kwargs": info.kwargs, "kind": info.kind, "input_shape": info.input_shape,
                "classes": info.classes, "num_parameters": served.num_parameters, "metrics": info.metrics,
                "accepts": ["application/json"] + (["multipart/form-data", "image/*"] if info.kind == "image" else []),
                "max_batch": max_batch, "max_body_bytes": max_body_bytes}

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page():
        return PAGE.read_text(encoding="utf-8")

    @app.post("/predict", openapi_extra=_PREDICT_BODY)
    async def predict(request: Request):
        """Class probabilities for a JSON batch or an uploaded image."""
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_body_bytes:
            raise HTTPException(413, f"request body of {declared} bytes is larger than the limit of {max_body_bytes}")
        body = await request.body()
        if len(body) > max_body_bytes:
            raise HTTPException(413, f"request body of {len(body)} bytes is larger than the limit of {max_body_bytes}")
        try:
            batch = await _read_batch(request, content_type, body)
        except BadInput as error:
            raise HTTPException(400 if "not an image" in str(error) else 422, str(error)) from None
        if len(batch) > max_batch:
            raise HTTPException(413, f"a batch of {len(batch)} examples is larger than the limit of {max_batch}")
        probabilities = await run_in_threadpool(served.predict, batch)
        return {"predictions": [_prediction(p, info.classes) for p in probabilities.tolist()]}

    async def _read_batch(request, content_type, body):
        if content_type == "application/json":
            try:
                payload = json.loads(body)
            except (ValueError, UnicodeDecodeError):
                raise HTTPException(400, "the request body is not valid JSON") from None
            if not isinstance(payload, dict) or "inputs" not in payload:
                raise HTTPException(422, 'expected a JSON object {"inputs": [...]}')
            return batch_from_json(payload["inputs"], info.input_shape)
        if info.kind != "image" and (content_type == "multipart/form-data" or content_type.startswith("image/")):
            raise HTTPException(415, f"this model ({info.kind} input) takes application/json only")
        if content_type == "multipart/form-data":
            form = await request.form()
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise HTTPException(422, "send the image as the multipart form field 'file'")
            data = await upload.read()
        elif content_type.startswith("image/"):
            data = body
        else:
            raise HTTPException(415, f"Content-Type must be application/json, multipart/form-data (field 'file') "
                                     f"or image/*, got {content_type or 'none'!r}")
        return image_from_bytes(data, info.input_shape, info.mean, info.std, info.center_digit)

    return app


def _prediction(probabilities, classes):
    best = max(range(len(probabilities)), key=probabilities.__getitem__)
    return {"class": best, "label": classes[best] if best < len(classes) else str(best),
            "probability": probabilities[best], "probabilities": probabilities}
