"""Atomic writers: a process killed (SIGKILL) while writing a raster leaves no final file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import rasterio

from slidemap.raster import write_cog

WRITER = textwrap.dedent(
    """
    import sys, time
    import dask.array as da
    import numpy as np
    from rasterio.transform import from_origin
    from slidemap.raster import write_cog

    def slow(block):
        time.sleep(0.05)  # a chunk takes a while: the kill lands mid-write
        return block + 1.0

    data = da.zeros((2048, 2048), chunks=(128, 128), dtype="float32").map_blocks(slow)
    write_cog(data, sys.argv[1], crs="EPSG:32717",
              transform=from_origin(0, 20480, 10, 10), nodata=float("nan"))
    """
)


def test_sigkill_during_raster_write_leaves_no_final_file(tmp_path):
    final = tmp_path / "out" / "slope.tif"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(final)], env=env, start_new_session=True
    )
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            temps = list(final.parent.glob(".slope.tif.*")) if final.parent.exists() else []
            if temps and temps[0].stat().st_size > 0:
                break
            assert proc.poll() is None, "the writer ended before the kill"
            time.sleep(0.05)
        else:
            raise AssertionError("the writer never started writing")
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL
    assert not final.exists()  # only the hidden temporary file is left, never slope.tif
    assert all(p.name.startswith(".") for p in final.parent.iterdir())

    # the rerun (what Snakemake does after --rerun-incomplete) writes the complete file
    write_cog(
        np.ones((64, 64), dtype="float32"),
        final,
        crs="EPSG:32717",
        transform=rasterio.transform.from_origin(0, 640, 10, 10),
        nodata=float("nan"),
    )
    with rasterio.open(final) as src:
        assert src.read(1).sum() == 64 * 64
