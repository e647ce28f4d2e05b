"""Fault injection for test_ray.py, outside the package: Ray runs ``setup``
in every worker process it starts (``ray.init(runtime_env={"worker_process_setup_hook":
"tests.ray_faults.setup"})``). It wraps the real ``Predictor.__call__`` so that
the first actor to claim the flag file named by KILL_FLAG_ENV (by an atomic
rename) kills its own process in its first batch, as a crash or an
out-of-memory kill would. Every other actor, and every actor when the flag
file does not exist, predicts as it would without the hook.
"""

import os

KILL_FLAG_ENV = "SPACY_GLOBALPOINTER_TEST_KILL_FLAG"
CLAIMED = ".claimed-"  # the claimed flag file is FLAG.claimed-PID, PID the worker's


def setup() -> None:
    flag = os.environ.get(KILL_FLAG_ENV)
    if not flag:
        return
    from spacy_globalpointer.corpus.ray_engine import Predictor

    real_call = Predictor.__call__

    def call_or_die(self, batch):
        if not getattr(self, "_fault_checked", False):
            self._fault_checked = True
            try:
                os.rename(flag, f"{flag}{CLAIMED}{os.getpid()}")
            except OSError:
                pass  # another actor claimed it, or this test set no flag
            else:
                os._exit(1)
        return real_call(self, batch)

    Predictor.__call__ = call_or_die
