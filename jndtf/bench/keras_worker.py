"""Child process of :func:`jndtf.bench.runners.time_keras`: times a Keras JND model.

Run as ``python -m jndtf.bench.keras_worker --model acol --input x.npy --out result.json
--runs 20 --warmup 3 --threads 2``. It sizes TensorFlow's thread pools (``threads`` intra-op,
one inter-op) before anything initializes TensorFlow, loads the model with
:func:`jndtf.evaluate.learned.load_learned`, wraps ``model(x, training=False)`` in a
``tf.function`` with the input's fixed signature (graph mode, ``jit_compile=False``), and writes
the seconds per call, as JSON, to ``--out``. Each timed call ends with the map copied to numpy.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m jndtf.bench.keras_worker", description=__doc__)
    p.add_argument("--model", required=True, help="registered name, .keras path or SPEC:PATH")
    p.add_argument("--input", required=True, help=".npy network input (1, H, W, C) float32")
    p.add_argument("--out", required=True, help="JSON file for the timings")
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    import numpy as np
    import tensorflow as tf

    # Must happen before TensorFlow creates its thread pools (the first op or device query).
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)

    import keras

    from jndtf.bench.runners import time_calls
    from jndtf.evaluate.learned import load_learned
    from jndtf.io import atomic_write_bytes

    try:
        learned = load_learned(args.model)
        x = np.load(args.input, allow_pickle=False).astype(np.float32)
    except (ValueError, KeyError, FileNotFoundError, ImportError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    model = learned.model
    call = tf.function(
        lambda t: model(t, training=False),
        input_signature=[tf.TensorSpec(x.shape, tf.float32)],
        jit_compile=False,
    )
    xt = tf.constant(x)
    times = time_calls(lambda: call(xt).numpy(), runs=args.runs, warmup=args.warmup)
    result = {
        "times_s": times,
        "mode": "tf.function graph, jit_compile=False",
        "threads": {
            "intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
            "inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
        },
        "versions": {"tensorflow": tf.__version__, "keras": keras.__version__},
        "source": str(learned.source),
    }
    atomic_write_bytes(args.out, json.dumps(result).encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
