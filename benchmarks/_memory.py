"""Peak memory of the measuring process itself.

``resource.getrusage(RUSAGE_SELF).ru_maxrss`` is carried over to a child: one
started from a parent that once held 500 MB reports at least 500 MB, whatever it did
itself. Linux keeps each process's own high-water mark in ``/proc/<pid>/status``
(``VmHWM``). A forked child still maps its parent's pages (its VmHWM counts them
too), so every measurement runs in a fresh interpreter (``subprocess`` running
``python``, never ``fork``) and reads :func:`peak_rss_mb` inside it.
"""

from pathlib import Path


def _status_field(field, pid="self"):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024  # kB -> MB
    raise OSError(f"/proc/{pid}/status has no {field} line")


def peak_rss_mb(pid="self"):
    """High-water mark of the resident memory of one process, in MB (VmHWM)."""
    return _status_field("VmHWM", pid)


def current_rss_mb(pid="self"):
    """Current resident memory of one process, in MB (VmRSS)."""
    return _status_field("VmRSS", pid)
