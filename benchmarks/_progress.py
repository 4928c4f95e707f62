"""Progress of a long run: a tqdm bar on a terminal, plain lines in a log.

tqdm (in the ``bench`` extra) redraws one line with ``\\r`` on a terminal; a
redirected stderr gets one plain line per step instead, with the elapsed time
and an estimate of the time left, so that a log has no ``\\r`` in it.
"""

import sys
import time


def _format(seconds):
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


class Progress:
    """``with Progress(total) as p: p.step('what starts now')``."""

    def __init__(self, total, stream=None):
        self.total = total
        self.stream = stream or sys.stderr
        self.done = -1
        self.start = time.perf_counter()
        self.bar = None
        if getattr(self.stream, "isatty", lambda: False)():
            try:
                from tqdm import tqdm
            except ImportError:
                pass
            else:
                self.bar = tqdm(total=total, file=self.stream, unit="job",
                                dynamic_ncols=True)

    def step(self, text):
        """Mark the previous step done and announce the next one."""
        self.done += 1
        if self.bar is not None:
            self.bar.update(1 if self.done else 0)
            self.bar.set_description_str(text[:50])
            return
        elapsed = time.perf_counter() - self.start
        left = (f", about {_format(elapsed / self.done * (self.total - self.done))}"
                " left" if self.done else "")
        self.stream.write(f"[benchmarks] {self.done + 1}/{self.total} {text} "
                          f"(elapsed {_format(elapsed)}{left})\n")
        self.stream.flush()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.update(self.total - self.bar.n)
            self.bar.close()
        else:
            elapsed = time.perf_counter() - self.start
            self.stream.write(f"[benchmarks] done in {_format(elapsed)}\n")
            self.stream.flush()
        return False
