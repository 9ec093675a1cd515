"""Each pytest-xdist worker, and the processes its tests start, use the worker's share of the
cores (tests/processes.py: share_the_cores, called by tests/conftest.py)."""

from __future__ import annotations

import os

from tests.processes import QUICK_XLA, backend_env, share_the_cores

EIGEN_OFF = "--xla_cpu_multi_thread_eigen=false"
TWO_DEVICES = "--xla_force_host_platform_device_count=2"


def test_workers_split_the_cores_and_keep_what_is_set(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    four = {"PYTEST_XDIST_WORKER_COUNT": "2"}
    assert share_the_cores(four) == 4
    assert four["OMP_NUM_THREADS"] == four["TF_NUM_INTRAOP_THREADS"] == "4"
    assert "XLA_FLAGS" not in four  # XLA's own thread pool is turned off at one thread only

    one = {"PYTEST_XDIST_WORKER_COUNT": "16", "OMP_NUM_THREADS": "3", "XLA_FLAGS": TWO_DEVICES}
    assert share_the_cores(one) == 1
    assert one["OMP_NUM_THREADS"] == "3"  # set by the user: kept
    assert one["TF_NUM_INTRAOP_THREADS"] == "1"
    assert one["XLA_FLAGS"] == f"{TWO_DEVICES} {EIGEN_OFF}"
    assert share_the_cores(one) == 1 and one["XLA_FLAGS"] == f"{TWO_DEVICES} {EIGEN_OFF}"

    for outside in ({}, {"PYTEST_XDIST_WORKER_COUNT": "1"}):
        assert share_the_cores(outside) is None and set(outside) <= {"PYTEST_XDIST_WORKER_COUNT"}


def test_a_child_on_another_backend_keeps_the_share_and_adds_its_own_flags(monkeypatch):
    monkeypatch.setenv("XLA_FLAGS", EIGEN_OFF)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    jax = backend_env("jax", XLA_FLAGS=TWO_DEVICES)
    assert jax["XLA_FLAGS"].split() == [EIGEN_OFF, TWO_DEVICES, *QUICK_XLA.split()]
    assert jax["OMP_NUM_THREADS"] == "1" and jax["KERAS_BACKEND"] == "jax"
    torch = backend_env("torch", quick_compile=False)
    assert torch["XLA_FLAGS"] == EIGEN_OFF and torch["OMP_NUM_THREADS"] == "1"
