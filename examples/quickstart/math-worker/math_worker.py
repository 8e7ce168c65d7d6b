"""The Quickstart's math worker in Python, written for the official Python SDK.

Install:  pip install iii-sdk==0.22.1
Run:      python examples/quickstart/math-worker/math_worker.py   (III_URL defaults to ws://localhost:49134)

`math::add` adds two integers and adds the sum to a running total kept in engine state
(scope "quickstart", key "total"): the same contract as the C++ math worker beside it.
"""
import os
import signal
import threading

from iii import InitOptions, register_worker

iii = register_worker(
    os.environ.get("III_URL", "ws://localhost:49134"),
    InitOptions(worker_name="math-worker"),
)


def add(payload: dict) -> dict:
    a, b = payload["a"], payload["b"]
    if not isinstance(a, int) or not isinstance(b, int):
        raise ValueError("a and b must be integers")
    c = a + b
    updated = iii.trigger({
        "function_id": "state::update",
        "payload": {
            "scope": "quickstart",
            "key": "total",
            "ops": [
                {"type": "increment", "path": "sum", "by": c},
                {"type": "increment", "path": "count", "by": 1},
            ],
        },
    })
    return {"c": c, "total": updated["new_value"]["sum"]}


iii.register_function("math::add", add)
print("math-worker (Python): serving math::add")

stop = threading.Event()
signal.signal(signal.SIGINT, lambda *_: stop.set())
signal.signal(signal.SIGTERM, lambda *_: stop.set())
stop.wait()
iii.shutdown()
