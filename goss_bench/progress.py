"""Progress reporting shared by the long-running library functions.

Library code never prints; a caller chooses how progress is shown by passing
``progress``: False (nothing), True (a tqdm bar on stderr, silent when stderr
is not a terminal) or a callback ``(done, total)``.
"""

from __future__ import annotations

from collections.abc import Callable

ProgressArg = bool | Callable[[int, int], None]


def make_progress(progress: ProgressArg, total: int, desc: str) -> Callable[..., None]:
    """Return ``update(k, close=False)``: advance by ``k`` items; ``close=True`` ends a bar."""
    if callable(progress):
        done = [0]

        def callback(k: int, close: bool = False) -> None:
            if k:
                done[0] += k
                progress(done[0], total)

        return callback
    if not progress:
        return lambda k, close=False: None
    from tqdm import tqdm

    bar = tqdm(total=total, unit="img", desc=desc, leave=False, disable=None)

    def update(k: int, close: bool = False) -> None:
        if k:
            bar.update(k)
        if close:
            bar.close()

    return update
