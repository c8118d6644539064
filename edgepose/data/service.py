"""Remote input-pipeline workers through tf.data service: a dispatcher and any number of workers.

Training with ``training.data_service: grpc://host:port`` registers its (pure TensorFlow) input pipeline
with the dispatcher; workers run it and stream batches back, so slow augmentation scales out to
machines without accelerators. Workers read the image files by the paths in the dataset, so every
worker must see the data at the same paths (a shared or copied folder).
"""

from __future__ import annotations

import time

from edgepose.errors import ConfigError


def _address(value: str) -> str:
    """``grpc://host:port`` or ``host:port`` → ``host:port``, as the worker config wants it."""
    host_port = value.removeprefix("grpc://")
    host, _, port = host_port.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"dispatcher address '{value}': expected host:port or grpc://host:port")
    return host_port


def start_dispatcher(port: int, work_dir: str | None = None):
    import tensorflow as tf

    config = tf.data.experimental.service.DispatcherConfig(
        port=port, work_dir=work_dir, fault_tolerant_mode=work_dir is not None
    )
    return tf.data.experimental.service.DispatchServer(config)


def start_worker(dispatcher: str, port: int = 0, worker_host: str = "localhost"):
    import tensorflow as tf

    config = tf.data.experimental.service.WorkerConfig(
        dispatcher_address=_address(dispatcher), worker_address=f"{worker_host}:%port%", port=port
    )
    return tf.data.experimental.service.WorkerServer(config)


def serve_forever(server) -> None:
    """Block until Ctrl-C (``server.join`` would not let KeyboardInterrupt through promptly)."""
    try:
        while True:
            time.sleep(1.0)
    finally:
        server.stop() if hasattr(server, "stop") else None
