# slidemap: potential-landslide and landslide-susceptibility mapping from Sentinel-1 InSAR.
# This file only wires the workflow; the rules live in workflow/rules/, the logic in src/slidemap.


# The demo study, unless a study of your own is given with --configfile (then only that file
# and any --config overrides count: the demo's tracks and layers are not merged into it).
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/insar.smk"
include: "workflow/rules/factors.smk"
include: "workflow/rules/hotspots.smk"
include: "workflow/rules/samples.smk"
include: "workflow/rules/models.smk"
include: "workflow/rules/maps.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        get_final_output(),
