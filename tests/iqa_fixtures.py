"""Session-scoped fixtures of the IQA metric tests: the golden pairs and the JAX numbers.

A pytest plugin: a test module that says ``pytest_plugins = ("iqa_fixtures",)`` gets
:func:`golden` and :func:`jax_numbers`, each computed once per session whichever modules ask.
(Test modules do not import this file: it is registered, and so assert-rewritten, as a plugin.)
"""

from __future__ import annotations

import csv
import importlib.util

import pytest
from iqa_common import GOLDEN_IMAGES
from iqa_jax import DEFAULT_JOBS, JOBS, cancel_jax, jax_results, start_jax


@pytest.fixture(scope="session")
def golden(shared_dir):
    """``(pairs, values)``: {image: (ref, dist)}, uint8 1xHxWx3 each; {metric: {image: value}}.

    The values are the original authors' MATLAB numbers, ``reference_values.csv`` (one row per
    metric, one column per image of :data:`iqa_common.GOLDEN_IMAGES`).
    """
    from jndtf.io import load_image

    root = shared_dir / "data" / "iqa-golden"
    pairs = {
        n: (
            load_image(root / "ref" / f"{n}.png")[None],
            load_image(root / "dist" / f"{n}.png")[None],
        )
        for n in GOLDEN_IMAGES
    }
    with open(root / "reference_values.csv", newline="") as fh:
        values = {
            row["metric"]: {n: float(row[n]) for n in GOLDEN_IMAGES} for row in csv.DictReader(fh)
        }
    return pairs, values


def _jax_jobs(items) -> tuple[str, ...]:
    """The jobs of tests/iqa_jax.py that the `items` asking for ``jax_numbers`` compare against.

    A test module names its job in ``JAX_JOB``; a module without one asks for all of
    :data:`iqa_jax.DEFAULT_JOBS`.
    """
    wanted = set()
    for item in items:
        if "jax_numbers" in getattr(item, "fixturenames", ()):
            job = getattr(getattr(item, "module", None), "JAX_JOB", None)
            wanted.update(DEFAULT_JOBS if job is None else (job,))
    return tuple(j for j in JOBS if j in wanted)


def pytest_collection_finish(session):
    """Starts the JAX child as soon as the tests are known: it compiles while the others run."""
    jobs = _jax_jobs(session.items)
    if jobs:
        start_jax(jobs)


def pytest_sessionfinish(session):
    cancel_jax()


@pytest.fixture(scope="session")
def jax_numbers(request) -> dict:
    """The JAX numbers of the jobs the selected tests ask for, from one child interpreter.

    Skips the test if jax is not installed.
    """
    if importlib.util.find_spec("jax") is None:
        pytest.skip("jax not installed (pip install jax)")
    return jax_results(_jax_jobs(request.session.items))
