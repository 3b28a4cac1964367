# report stage: hillshade, map figures over the hillshade, the interactive map, and the
# captions of `snakemake --report` (workflow/report/*.rst).


report: "../report/workflow.rst"


REPORT_MAP_FIGURES = ["susceptibility.png", "classes.png"]
FINAL_OUTPUTS.extend(
    expand(
        f"{RESULTS}/report/maps/{{model}}_{{file}}",
        model=MAP_MODELS,
        file=REPORT_MAP_FIGURES,
    )
)
if MAP_MODELS:
    FINAL_OUTPUTS.append(f"{RESULTS}/report/interactive_map.html")
    FINAL_OUTPUTS.append(f"{RESULTS}/report/hillshade.tif")
if MAKE_UNCERTAINTY:
    FINAL_OUTPUTS.append(f"{RESULTS}/report/maps/uncertainty.png")


rule hillshade:
    input:
        dem=f"{RESULTS}/grid/dem.tif",
    output:
        hillshade=f"{RESULTS}/report/hillshade.tif",
    log:
        f"{RESULTS}/logs/hillshade/hillshade.log",
    benchmark:
        f"{RESULTS}/benchmarks/hillshade/hillshade.tsv"
    conda:
        "../../envs/ml.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb(800),
    params:
        light=config["report"]["hillshade"],
        library=library_version("report", "raster"),
    script:
        "../../scripts/hillshade.py"


rule map_figures:
    input:
        susceptibility=f"{RESULTS}/maps/{{model}}/susceptibility.tif",
        classes=f"{RESULTS}/maps/{{model}}/classes.tif",
        info=f"{RESULTS}/maps/{{model}}/classes.json",
        hillshade=f"{RESULTS}/report/hillshade.tif",
        candidates=get_report_candidates,
    output:
        susceptibility=report(
            f"{RESULTS}/report/maps/{{model}}_susceptibility.png",
            caption="../report/susceptibility_map.rst",
            category="4. Susceptibility maps",
            subcategory="{model}",
            labels={"model": "{model}", "figure": "susceptibility"},
        ),
        classes=report(
            f"{RESULTS}/report/maps/{{model}}_classes.png",
            caption="../report/class_map.rst",
            category="4. Susceptibility maps",
            subcategory="{model}",
            labels={"model": "{model}", "figure": "classes"},
        ),
    log:
        f"{RESULTS}/logs/map_figures/{{model}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/map_figures/{{model}}.tsv"
    conda:
        "../../envs/ml.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb(1500),
    params:
        library=library_version("report", "raster"),
    script:
        "../../scripts/map_figures.py"


rule uncertainty_figure:
    input:
        uncertainty=f"{RESULTS}/maps/uncertainty.tif",
        hillshade=f"{RESULTS}/report/hillshade.tif",
        candidates=get_report_candidates,
    output:
        figure=report(
            f"{RESULTS}/report/maps/uncertainty.png",
            caption="../report/uncertainty.rst",
            category="4. Susceptibility maps",
            subcategory="model agreement",
            labels={"figure": "uncertainty"},
        ),
    log:
        f"{RESULTS}/logs/uncertainty_figure/uncertainty_figure.log",
    benchmark:
        f"{RESULTS}/benchmarks/uncertainty_figure/uncertainty_figure.tsv"
    conda:
        "../../envs/ml.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb(1500),
    params:
        models=MAP_MODELS,
        library=library_version("report", "raster"),
    script:
        "../../scripts/uncertainty_figure.py"


rule report:
    input:
        best=f"{RESULTS}/maps/best_model.json",
        classes=expand(f"{RESULTS}/maps/{{model}}/classes.tif", model=MAP_MODELS),
        hillshade=f"{RESULTS}/report/hillshade.tif",
        candidates=get_report_candidates,
    output:
        html=report(
            f"{RESULTS}/report/interactive_map.html",
            caption="../report/interactive_map.rst",
            category="7. Interactive map",
            labels={"figure": "interactive map"},
        ),
    log:
        f"{RESULTS}/logs/report/report.log",
    benchmark:
        f"{RESULTS}/benchmarks/report/report.tsv"
    conda:
        "../../envs/ml.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb(2000),
    params:
        basemap=config["report"]["basemap"],
        max_side=config["report"]["max_image_side"],
        library=library_version("report", "raster", "maps/classes"),
    script:
        "../../scripts/interactive_map.py"
