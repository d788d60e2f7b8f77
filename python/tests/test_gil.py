"""The GIL is released while a session runs, so Python threads sharing one
session run in parallel."""
import os
import threading
import time

import numpy as np
import pytest
import sparq


@pytest.fixture(scope="module")
def session(fashion_model_path):
    # threads=1: one run uses one core, so two runs at once can use two.
    return sparq.Session(sparq.Model.load(fashion_model_path), threads=1)


def test_python_code_runs_while_a_session_runs(session):
    """Deterministic on any machine: a Python thread counts while another
    thread is inside session.run. Were the GIL held through the C++ call, the
    counter could not move from the moment run starts until it returns."""
    batch = np.random.default_rng(1).random((2000, 1, 28, 28), dtype=np.float32)
    inside = threading.Event()
    done = threading.Event()
    counts = []

    def count():
        inside.wait()
        n = 0
        while not done.is_set():
            n += 1
        counts.append(n)

    counter = threading.Thread(target=count)
    counter.start()
    runs = 0
    start = time.perf_counter()
    while time.perf_counter() - start < 0.5 or runs < 3:
        inside.set()
        session.run(batch, check_finite=False)
        runs += 1
    done.set()
    counter.join()
    # The counter only ever ran between calls otherwise: a handful of
    # bytecodes per switch interval. Released, it counts millions.
    assert counts[0] > 10_000, f"counted {counts[0]} while {runs} runs took the GIL"


def wall_time(sessions, batch, calls):
    def work(s):
        for _ in range(calls):
            s.run(batch)

    threads = [threading.Thread(target=work, args=(s,)) for s in sessions]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs 2 cores to run 2 threads at once")
def test_two_threads_on_one_session_take_about_the_time_of_one(session, fashion_model_path):
    """Two threads each doing the work of one: ~1x the time when parallel, 2x
    when serialised. A shared machine may have no two free cores, so every
    attempt also times a control (two threads on two independent sessions):
    when even the control is not parallel, the test skips rather than guess.
    A serialised session stays near 2x in every attempt; on a cloud guest
    whose second vCPU is intermittently contended, shared and control
    attempts land anywhere between (1.75 with a control of 1.29 right after
    it), so only a session that was never below 1.85 while the machine could
    run two threads at once fails."""
    other = sparq.Session(sparq.Model.load(fashion_model_path), threads=1)
    batch = np.random.default_rng(2).random((32, 1, 28, 28), dtype=np.float32)
    session.run(batch)
    other.run(batch)
    calls = 25
    attempts = []
    for _ in range(6):
        alone = wall_time([session], batch, calls)
        shared = wall_time([session, session], batch, calls) / alone
        control = wall_time([session, other], batch, calls) / alone
        attempts.append((round(shared, 2), round(control, 2)))
        if shared < 1.6:
            return
    if all(control >= 1.6 for _, control in attempts):
        pytest.skip(f"no two free cores now (shared, control ratios: {attempts})")
    if all(shared >= 1.85 for shared, _ in attempts):
        pytest.fail(f"one session is serialised where two are not (shared, control): {attempts}")
    pytest.skip(f"inconclusive on a machine this busy (shared, control ratios: {attempts})")
