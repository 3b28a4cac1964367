"""Real full and read-only file systems for the hostile suite (tmpfs mounts)."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def tmpfs(mountpoint: Path, options: str) -> Iterator[Path]:
    """Mount a tmpfs with ``options`` (e.g. ``ro,size=64k``) on ``mountpoint`` for the block.

    Skips the test where mounting is not allowed (not root, no mount namespace); a real full
    or read-only file system is what root cannot bypass, unlike file permissions.
    """
    mountpoint.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mountpoint)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", str(mountpoint)], capture_output=True)
