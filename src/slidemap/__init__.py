"""slidemap: potential-landslide and landslide-susceptibility mapping from Sentinel-1 InSAR.

The library is pure Python with no Snakemake imports; the workflow in ``workflow/``
calls it through the thin scripts in ``scripts/``.
"""

__version__ = "0.1.0"
