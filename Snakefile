# slidemap: potential-landslide and landslide-susceptibility mapping from Sentinel-1 InSAR.
# This file only wires the workflow; the rules live in workflow/rules/, the logic in src/slidemap.


# The demo study, unless a study of your own is given with --configfile (then only that file
# and any --config overrides count: the demo's tracks and layers are not merged into it).
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


# The stages, in order (workflow.include is what the `include:` directive runs). A bad
# setting or input found while they are read (config keys, the DEM header) ends in one
# located message with its fix, never a traceback (docs/troubleshooting.md).
from slidemap.errors import SlidemapError

_STAGES = [
    "common",
    "insar",
    "factors",
    "hotspots",
    "samples",
    "models",
    "maps",
    "report",
]
try:
    for _stage in _STAGES:
        workflow.include(f"workflow/rules/{_stage}.smk")
except SlidemapError as _err:
    sys.exit(f"slidemap: {_err}")


rule all:
    default_target: True
    input:
        get_final_output(),
