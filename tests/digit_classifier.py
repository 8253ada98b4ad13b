"""The small trained MNIST classifier shared by the serve and quantization tests (a helper, not a
test file): an MLP trained for 2 epochs on 6,000 MNIST images (the shared data when
MACROGRAD_DATA points at it, else the shipped sample), a few seconds."""
from macrograd.serve.train_demo import train_digit_classifier


def trained_digit_classifier(tmp_path_factory, epochs=2, train_subset=6000):
    """(path of the serving checkpoint, model, test accuracy, data)."""
    path = tmp_path_factory.mktemp("digits") / "digits.safetensors"
    model, accuracy, data = train_digit_classifier(path, epochs=epochs, train_subset=train_subset)
    return path, model, accuracy, data


def free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """uvicorn serving `app` on 127.0.0.1 and a free port, in a thread: `with LiveServer(app) as url:`."""

    def __init__(self, app, startup_timeout=30):
        import uvicorn

        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.startup_timeout = startup_timeout

    def __enter__(self):
        import threading
        import time

        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + self.startup_timeout
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError(f"uvicorn did not start on port {self.port}")
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(timeout=10)
