"""The inference server: endpoints with good and bad requests (FastAPI's TestClient), and a load
of concurrent clients against a real uvicorn server on loopback."""
import io
import json
import re
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

import macrograd as mg
from macrograd.serve import create_app, load_served_model
from macrograd.serve.preprocess import center_like_mnist
from digit_classifier import LiveServer, trained_digit_classifier


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return trained_digit_classifier(tmp_path_factory)


@pytest.fixture(scope="module")
def client(trained):
    return TestClient(create_app(trained[0], max_body_bytes=200_000, max_batch=64))


def png_of(digit_pixels):
    """A 28x28 array of 0..255 as a PNG, scaled up to 140x140 as a drawing would be."""
    image = Image.fromarray(digit_pixels.astype(np.uint8)).resize((140, 140), Image.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_classifier_learned(trained):
    assert trained[2] > 0.8


def test_health_metadata_page_and_openapi(client):
    assert client.get("/health").json() == {"status": "ok", "model": "mlp"}
    meta = client.get("/metadata").json()
    assert meta["input_shape"] == [1, 28, 28] and meta["classes"] == [str(i) for i in range(10)]
    assert meta["num_parameters"] == 784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10
    page = client.get("/")
    assert page.status_code == 200 and '<canvas id="canvas"' in page.text
    schema = client.get("/openapi.json").json()
    assert set(schema["paths"]["/predict"]["post"]["requestBody"]["content"]) == {"application/json", "multipart/form-data"}
    assert client.get("/docs").status_code == 200


def test_json_predictions_match_the_model(client, trained):
    _, model, _, data = trained
    x_test, y_test = data[4][:8], data[5][:8]
    body = client.post("/predict", json={"inputs": x_test.tolist()}).json()
    with mg.no_grad():
        want = mg.nn.functional.softmax(model.eval()(mg.tensor(x_test)), dim=1).numpy()
    got = np.array([p["probabilities"] for p in body["predictions"]])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert [p["class"] for p in body["predictions"]] == want.argmax(1).tolist()
    # one example without the batch axis is a batch of one
    single = client.post("/predict", json={"inputs": x_test[0].tolist()}).json()
    assert len(single["predictions"]) == 1 and single["predictions"][0]["class"] == int(want[0].argmax())


def test_uploaded_image_is_classified(client, trained):
    data = trained[3]
    x_test, y_test = data[4], data[5]
    mean, std = data[6], data[7]
    correct = 0
    for i in range(20):
        pixels = np.clip((x_test[i, 0] * std + mean) * 255, 0, 255)
        response = client.post("/predict", files={"file": ("digit.png", png_of(pixels), "image/png")})
        assert response.status_code == 200
        correct += response.json()["predictions"][0]["class"] == y_test[i]
    assert correct >= 15
    raw = client.post("/predict", content=png_of(np.zeros((28, 28))), headers={"content-type": "image/png"})
    assert raw.status_code == 200


@pytest.mark.parametrize("request_kwargs, status, message", [
    ({"json": {"inputs": [[1.0, 2.0]]}}, 422, r"inputs of shape \[1, 2\] do not match the model's input: expected \[1, 28, 28\]"),
    ({"json": {"inputs": [[1, 2], [3]]}}, 422, "rectangular shape"),
    ({"json": {"values": []}}, 422, r'expected a JSON object \{"inputs": \[...\]\}'),
    ({"content": b"{not json", "headers": {"content-type": "application/json"}}, 400, "not valid JSON"),
    ({"files": {"file": ("digit.png", b"this is no image", "image/png")}}, 400, "not an image"),
    ({"files": {"other": ("digit.png", b"x", "image/png")}}, 422, "form field 'file'"),
    ({"content": b"hello", "headers": {"content-type": "text/plain"}}, 415, "Content-Type must be application/json"),
    ({"content": b"x" * 300_000, "headers": {"content-type": "application/json"}}, 413, "larger than the limit of 200000"),
    ({"json": {"inputs": np.zeros((65, 1, 28, 28), dtype=int).tolist()}}, 413, "a batch of 65 examples is larger than the limit of 64"),
    ({"content": json.dumps({"inputs": [[[float("nan")] * 28] * 28]}).encode(),  # Python writes NaN
      "headers": {"content-type": "application/json"}}, 422, "NaN or infinity"),
])
def test_bad_requests_get_a_clear_4xx_and_the_server_keeps_serving(client, request_kwargs, status, message):
    response = client.post("/predict", **request_kwargs)
    assert response.status_code == status, response.text
    assert re.search(message, response.json()["detail"])
    assert client.get("/health").status_code == 200
    assert client.post("/predict", json={"inputs": np.zeros((1, 28, 28)).tolist()}).status_code == 200


def test_a_vector_model_refuses_images(tmp_path):
    from macrograd.serve import save_served_model

    model = mg.models.get_model("mlp", num_classes=3, in_channels=1, image_size=4, hidden_sizes=(5,))
    path = tmp_path / "v.safetensors"
    save_served_model(path, model, "mlp", {"num_classes": 3, "in_channels": 1, "image_size": 4, "hidden_sizes": [5]},
                      [1, 4, 4], kind="vector")
    c = TestClient(create_app(path))
    assert c.post("/predict", files={"file": ("a.png", png_of(np.zeros((4, 4))), "image/png")}).status_code == 415
    assert len(c.post("/predict", json={"inputs": np.ones((2, 1, 4, 4)).tolist()}).json()["predictions"]) == 2


def test_not_a_serving_checkpoint(tmp_path):
    mg.save({"w": mg.zeros(2)}, tmp_path / "plain.safetensors")
    with pytest.raises(ValueError, match="is not a serving checkpoint"):
        load_served_model(tmp_path / "plain.safetensors")


def test_centring_puts_the_mass_in_the_middle():
    drawing = np.zeros((280, 280), np.float32)
    drawing[20:120, 200:215] = 255  # a "1" in the top right corner
    frame = center_like_mnist(drawing)
    ys, xs = np.nonzero(frame)
    assert frame.shape == (28, 28) and ys.max() - ys.min() + 1 == 20
    cy, cx = (np.indices(frame.shape) * frame).sum(axis=(1, 2)) / frame.sum()
    assert abs(cy - 14) < 1 and abs(cx - 14) < 1


@pytest.fixture(scope="module")
def live_server(trained):
    with LiveServer(create_app(trained[0])) as url:
        yield url


def test_load_of_1000_requests_from_concurrent_clients(live_server, trained):
    """16 clients, 1,200 requests in all (predictions, some batched, and health checks), bounded in
    time: every one answered 200 with the right number of predictions."""
    x = trained[3][4][:4]
    clients, per_client = 16, 75

    def client_run(k):
        results = []
        with httpx.Client(base_url=live_server, timeout=30) as http:
            for i in range(per_client):
                if i % 5 == 4:
                    r = http.get("/health")
                    results.append(r.status_code == 200)
                else:
                    n = 1 + (i + k) % 4
                    r = http.post("/predict", json={"inputs": x[:n].tolist()})
                    results.append(r.status_code == 200 and len(r.json()["predictions"]) == n)
        return results

    start = time.monotonic()
    with ThreadPoolExecutor(clients) as pool:
        outcomes = [ok for results in pool.map(client_run, range(clients), timeout=240) for ok in results]
    elapsed = time.monotonic() - start
    assert len(outcomes) == clients * per_client >= 1000
    assert all(outcomes), f"{outcomes.count(False)} of {len(outcomes)} requests failed"
    assert elapsed < 240
