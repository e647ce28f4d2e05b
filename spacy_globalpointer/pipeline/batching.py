"""How the component feeds its model at prediction: docs in groups of
bounded padded size, and one torch thread while it runs in a forked worker."""

import contextlib
import os
from typing import Iterable, Iterator, List

import torch


def length_groups(order: Iterable[int], lengths: List[int], max_items: int) -> Iterable[List[int]]:
    """Consecutive indices of ``order`` in groups of at most max_items padded
    tokens (group size x longest doc); a longer doc goes alone."""
    group: List[int] = []
    longest = 0
    for i in order:
        if group and (len(group) + 1) * max(longest, lengths[i]) > max_items:
            yield group
            group, longest = [], 0
        group.append(i)
        longest = max(longest, lengths[i])
    if group:
        yield group


@contextlib.contextmanager
def one_torch_thread_if_forked(home_pid: int) -> Iterator[None]:
    """Within the block, torch runs on one thread when this process is a fork
    of ``home_pid`` (where the component was made); after it, torch's thread
    count is what it was.

    nlp.pipe(n_process=N) forks workers: torch's OpenMP pool, already used by
    the parent, hangs in a forked child, and N x the parent's threads would
    oversubscribe the cores. Only the component's own model calls are changed."""
    if os.getpid() == home_pid:
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
