"""The memory probe reports the measured process's own peak, not its parent's."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks._memory import current_rss_mb, peak_rss_mb

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(
    not Path("/proc/self/status").exists(), reason="needs Linux /proc"
)

_CHILD = """
import json, numpy as np
from benchmarks._memory import peak_rss_mb
before = peak_rss_mb()
block = np.ones({mb} * 2**20 // 8)  # touched pages count
print(json.dumps({{"before": before, "after": peak_rss_mb()}}))
"""


def _fresh_child(mb):
    out = subprocess.run([sys.executable, "-c", _CHILD.format(mb=mb)], cwd=ROOT,
                         capture_output=True, text=True, check=True, timeout=120)
    return json.loads(out.stdout)


def test_child_allocating_200_mb_reports_about_200_mb_more():
    child = _fresh_child(200)
    assert 180 <= child["after"] - child["before"] <= 260


def test_fresh_child_that_allocates_nothing_reports_far_less_than_parent():
    held = np.ones(500 * 2**20 // 8)
    assert peak_rss_mb() >= 500
    child = _fresh_child(0)
    assert child["after"] < 250, child
    del held
