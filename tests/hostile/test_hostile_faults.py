"""Faults during a run (issue 17, item 4): a storage fault or an unexpected error ends a job
with one clear line on stderr (no traceback), the same line in the job log, exit status 1.

Each case runs a tiny job script in a fresh interpreter (as Snakemake does), with the fault
injected: a writer that raises ENOSPC/EROFS, rasterio's bare "Write failed" after GDAL logged
the reason, a job log on a full disk (``/dev/full``), an unexpected bug.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from mounts import tmpfs

from slidemap.logs import storage_fault

SRC = str(Path(__file__).resolve().parents[2] / "src")


def run_job(tmp_path: Path, body: str, log: str | None = "logs/distance_factor/roads.log"):
    """Run ``body`` as the ``main`` of a job script under run_logged; return the process."""
    log_arg = repr(str(tmp_path / log)) if log and not log.startswith("/") else repr(log)
    script = tmp_path / "job.py"
    script.write_text(
        "from slidemap.logs import run_logged\n"
        "def main():\n" + textwrap.indent(textwrap.dedent(body), "    ") + "\n"
        f"run_logged(main, {log_arg})\n",
        encoding="utf-8",
    )
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=120
    )


@pytest.mark.parametrize(
    ("code", "said"),
    [
        (errno.ENOSPC, "no space left on device"),
        (errno.EDQUOT, "disk quota exceeded"),
        (errno.EROFS, "read-only file system"),
        (errno.EACCES, "permission denied"),
    ],
)
def test_storage_errno_is_one_clear_line(tmp_path, code, said):
    target = "/data/results/demo/factors/dist_roads.tif"
    proc = run_job(tmp_path, f"raise OSError({code}, {os.strerror(code)!r}, {target!r})")
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    line = f"{said} while writing {target}"
    assert line in proc.stderr and "nothing was kept" in proc.stderr
    log = (tmp_path / "logs/distance_factor/roads.log").read_text()
    assert line in log and "Traceback" not in log


def test_rasterio_write_failed_takes_the_reason_from_gdal(tmp_path):
    body = """
    import logging
    from rasterio.errors import RasterioIOError
    logging.getLogger("rasterio._env").info(
        "CPLE_FileIO in /r/factors/dist_roads.tif: No space left on device")
    raise RasterioIOError("Write failed")
    """
    proc = run_job(tmp_path, body)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "no space left on device while writing /r/factors/dist_roads.tif" in proc.stderr
    assert "free space and rerun; nothing was kept" in proc.stderr


def test_gdal_messages_do_not_relabel_an_unrelated_error(tmp_path):
    body = """
    import logging
    logging.getLogger("rasterio._env").info("x.tif: Permission denied")
    raise KeyError("model")
    """
    proc = run_job(tmp_path, body)
    assert "permission denied" not in proc.stderr
    assert "unexpected error in rule distance_factor: KeyError" in proc.stderr


def test_unexpected_error_names_rule_and_log_and_keeps_the_traceback_in_the_log(tmp_path):
    proc = run_job(tmp_path, "x = {}\nx['missing']\n", log="logs/train/model=rf.log")
    log_path = tmp_path / "logs/train/model=rf.log"
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "unexpected error in rule train: KeyError: 'missing'" in proc.stderr
    assert f"the full traceback is in {log_path}" in proc.stderr
    log = log_path.read_text()
    assert "Traceback" in log and "x['missing']" in log


def test_job_log_on_a_full_disk_says_so_once_without_logging_error_dumps(tmp_path):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    body = f"raise OSError({errno.ENOSPC}, 'No space left on device', '/r/x.tif')"
    proc = run_job(tmp_path, body, log="/dev/full")
    assert proc.returncode == 1
    assert "--- Logging error ---" not in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stderr.count("cannot write the job log /dev/full") == 1
    assert "no space left on device while writing /r/x.tif" in proc.stderr


def test_slidemap_errors_stay_as_they_are(tmp_path):
    body = """
    from slidemap.errors import InputDataError
    raise InputDataError("dem.tif", "the DEM is bad.", "use another one.")
    """
    proc = run_job(tmp_path, body)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "dem.tif: the DEM is bad. Fix: use another one." in proc.stderr


def test_storage_fault_is_none_for_other_errors():
    assert storage_fault(ValueError("bad value")) is None
    assert storage_fault(OSError(errno.ENOENT, "No such file", "/x")) is None
    wrapped = RuntimeError("job failed")
    wrapped.__cause__ = OSError(errno.ENOSPC, "No space left on device")
    assert storage_fault(wrapped) == (
        "no space left on device while writing this job's outputs: free space and rerun; "
        "nothing was kept"
    )


def test_atomic_write_on_a_full_disk_names_the_file_and_keeps_nothing(tmp_path, monkeypatch):
    import shutil

    from slidemap.io import atomic_path

    real = shutil.disk_usage
    monkeypatch.setattr(
        shutil, "disk_usage", lambda p: real(p)._replace(free=1000)
    )  # what a full disk reports while the partial file still exists
    final = tmp_path / "factors" / "dist_roads.tif"
    with pytest.raises(OSError) as info:
        with atomic_path(final) as tmp:
            tmp.write_bytes(b"partial")
            raise RuntimeError("Write failed")  # what rasterio says
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(final)
    assert list(final.parent.iterdir()) == []


def test_unrelated_write_error_is_not_relabelled(tmp_path):
    from slidemap.io import atomic_path

    with pytest.raises(RuntimeError, match="bug"):
        with atomic_path(tmp_path / "x.tif"):
            raise RuntimeError("bug")


def test_real_full_file_system_gives_one_line(tmp_path):
    """A 256 KiB tmpfs (needs permission to mount; skipped otherwise) filled by a factor."""
    with tmpfs(tmp_path / "small", "size=256k") as mnt:
        body = f"""
        import numpy as np
        from rasterio.transform import from_origin
        from slidemap.raster import write_cog
        data = np.random.default_rng(0).random((1200, 1200)).astype("float32")
        write_cog(data, {str(mnt / "factors" / "dist_roads.tif")!r}, crs="EPSG:32717",
                  transform=from_origin(7e5, 9.56e6, 10, 10), nodata=np.nan,
                  dtype="float32", tags={{}})
        """
        proc = run_job(tmp_path, body)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr
        assert (
            f"no space left on device while writing {mnt / 'factors' / 'dist_roads.tif'}: "
            "free space and rerun; nothing was kept"
        ) in proc.stderr
        assert list((mnt / "factors").iterdir()) == []


def test_real_read_only_file_system_gives_one_line(tmp_path):
    """A read-only tmpfs (needs permission to mount; skipped otherwise): root ignores file
    permissions, a read-only mount it cannot ignore."""
    with tmpfs(tmp_path / "ro", "ro,size=256k") as mnt:
        target = mnt / "dist_roads.tif"
        body = f"""
        import numpy as np
        from rasterio.transform import from_origin
        from slidemap.raster import write_cog
        data = np.zeros((64, 64), dtype="float32")
        write_cog(data, {str(target)!r}, crs="EPSG:32717",
                  transform=from_origin(7e5, 9.56e6, 10, 10), nodata=np.nan)
        """
        proc = run_job(tmp_path, body)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
        assert "read-only file system while writing" in proc.stderr, proc.stderr
        assert "nothing was kept" in proc.stderr
        assert list(mnt.iterdir()) == []
