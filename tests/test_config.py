"""Config schema: defaults, unknown and mistyped keys, invalid values, missing files."""

from __future__ import annotations

import copy

import jsonschema
import pytest

from slidemap.config import check_paths, validate_config
from slidemap.errors import ConfigError


def _walk_properties(node, schema, path=""):
    """Yield (path, property schema) for every declared property, following $ref."""
    from slidemap.config import _resolve

    node = _resolve(schema, node)
    for key, sub in node.get("properties", {}).items():
        sub_r = _resolve(schema, sub)
        yield f"{path}{key}", sub_r
        yield from _walk_properties(sub_r, schema, f"{path}{key}.")
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        yield from _walk_properties(extra, schema, f"{path}<name>.")


def test_schema_is_valid_draft_2020_12(schema):
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"].endswith("2020-12/schema")


def test_every_key_has_type_description_and_default(schema):
    missing = []
    for path, sub in _walk_properties(schema, schema):
        required_here = path in {"dem", "dem.path"} or path.endswith(
            ("<name>.path", "<name>.format")
        )
        if "type" not in sub and "enum" not in sub:
            missing.append(f"{path}: type")
        if "description" not in sub:
            missing.append(f"{path}: description")
        if "default" not in sub and not required_here:
            missing.append(f"{path}: default")
    assert not missing, missing


def test_demo_config_validates_and_gets_defaults(demo_config, schema):
    cfg = validate_config(demo_config, schema)
    assert cfg["study_area"]["name"] == "demo"
    assert cfg["study_area"]["crs"] is None
    dsc = cfg["insar"]["tracks"]["dsc_142"]
    assert dsc["look"] == "right"
    assert dsc["velocity_positive"] == "toward_satellite"
    assert dsc["columns"]["x"] is None
    assert cfg["hotspots"]["stability_threshold_mm_yr"] == "auto"
    assert cfg["hotspots"]["preset"] == "adaptive"
    # the input mapping is not modified in place
    assert "look" not in demo_config["insar"]["tracks"]["dsc_142"]


def test_minimal_config_gets_all_defaults(schema):
    cfg = validate_config({"dem": {"path": "x.tif"}}, schema)
    assert cfg["insar"] == {"tile_size_m": None, "tracks": {}}
    assert cfg["layers"]["lithology"]["path"] is None
    assert cfg["layers"]["extra"] == {}


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda c: c.update(hotspot={}), "unknown config key 'hotspot'. Did you mean 'hotspots'?"),
        (
            lambda c: c["insar"]["tracks"]["asc_018"].update(colums={}),
            "unknown config key 'insar.tracks.asc_018.colums'. Did you mean 'columns'?",
        ),
        (
            lambda c: c["insar"]["tracks"]["dsc_142"]["columns"].update(velocty="V"),
            "'insar.tracks.dsc_142.columns.velocty'. Did you mean 'velocity'?",
        ),
        (lambda c: c["study_area"].update(resolution_m=-5), "'study_area.resolution_m'"),
        (
            lambda c: c["insar"]["tracks"]["asc_018"].update(format="csv"),
            "'insar.tracks.asc_018.format'",
        ),
        (lambda c: c["insar"]["tracks"]["dsc_142"].update(incidence_deg=95), "incidence_deg"),
        (lambda c: c["insar"]["tracks"].update({"bad name": {}}), "'bad name' is not allowed"),
        (lambda c: c.pop("dem"), "'dem' is a required property"),
        # item 3 of issue 8: every invalid value fails here, before any job runs
        (lambda c: c["hotspots"].update(search_radius_m=-200), "'hotspots.search_radius_m'"),
        (lambda c: c["hotspots"].update(kernel_radius_m=0), "'hotspots.kernel_radius_m'"),
        (lambda c: c["hotspots"].update(cell_size_m=-10), "'hotspots.cell_size_m'"),
        (lambda c: c["sampling"].update(buffer_m=-1), "'sampling.buffer_m'"),
        (lambda c: c.update(factors={"tpi": {"radius_m": -50}}), "'factors.tpi.radius_m'"),
        (
            lambda c: c["models"].update(randomforest={"enabled": True}),
            "unknown config key 'models.randomforest'.",
        ),
        (lambda c: c["models"].update(xgbost={}), "Did you mean 'xgboost'?"),
        (
            lambda c: c["models"].update(plc={"algorithm": "svm"}),
            "config key 'models.plc.algorithm': 'svm' is not one of",
        ),
        (
            lambda c: c.update(mapping={"best_model": "random_forest"}),
            "config key 'mapping.best_model': 'random_forest' is not one of",
        ),
        (
            lambda c: c.update(explain={"models": ["rf", "svm"]}),
            "config key 'explain.models.1': 'svm' is not one of",
        ),
        (
            lambda c: c["study_area"].update(crs="EPSG:99999"),
            "config key 'study_area.crs': 'EPSG:99999' is not a CRS pyproj understands",
        ),
        (
            lambda c: c["study_area"].update(crs="UTM17S"),
            "config key 'study_area.crs': 'UTM17S' is not a CRS pyproj understands",
        ),
        (
            lambda c: c["study_area"].update(crs="EPSG:4326"),
            "config key 'study_area.crs': 'EPSG:4326' is not projected in metres",
        ),
        (
            lambda c: c["inventory"].update(crs="EPSG:32717x"),
            "config key 'inventory.crs': 'EPSG:32717x' is not a CRS pyproj understands",
        ),
        (
            lambda c: c["insar"]["tracks"]["asc_018"].update(crs="epsg:nope"),
            "config key 'insar.tracks.asc_018.crs': 'epsg:nope' is not a CRS pyproj",
        ),
    ],
)
def test_invalid_config_names_the_key(demo_config, schema, mutate, expected):
    cfg = copy.deepcopy(demo_config)
    mutate(cfg)
    with pytest.raises(ConfigError) as err:
        validate_config(cfg, schema)
    assert expected in str(err.value)


def test_several_errors_are_reported_together(demo_config, schema):
    cfg = copy.deepcopy(demo_config)
    cfg["foo"] = 1
    cfg["study_area"]["nmae"] = "x"
    with pytest.raises(ConfigError) as err:
        validate_config(cfg, schema)
    assert "'foo'" in str(err.value) and "'study_area.nmae'" in str(err.value)


def test_missing_files_are_named_with_their_key(demo_config, schema, tmp_path, root):
    cfg = validate_config(demo_config, schema)
    check_paths(cfg, base=root)  # the demo is complete
    cfg["dem"]["path"] = "nowhere/dem.tif"
    cfg["insar"]["tracks"]["asc_018"]["path"] = str(tmp_path)  # exists but holds no CSV
    with pytest.raises(ConfigError) as err:
        check_paths(cfg, base=root)
    msg = str(err.value)
    assert "'dem.path': file 'nowhere/dem.tif' does not exist" in msg
    assert "'insar.tracks.asc_018.path'" in msg and "no *.csv" in msg


def test_config_readme_documents_every_key(schema, root):
    from slidemap.config import BEGIN_KEYS, END_KEYS, schema_reference_markdown

    text = (root / "config" / "README.md").read_text(encoding="utf-8")
    table = text.split(BEGIN_KEYS, 1)[1].split(END_KEYS, 1)[0].strip()
    assert table == schema_reference_markdown(schema).strip(), (
        "config/README.md is out of date: run `python -m slidemap.config config/README.md`"
    )


@pytest.mark.parametrize(
    ("key", "set_path"),
    [
        ("dem.path", lambda c, p: c["dem"].update(path=p)),
        ("study_area.boundary", lambda c, p: c["study_area"].update(boundary=p)),
        ("inventory.path", lambda c, p: c["inventory"].update(path=p)),
        ("layers.faults", lambda c, p: c["layers"].update(faults=p)),
        ("layers.rivers", lambda c, p: c["layers"].update(rivers=p)),
        ("layers.roads", lambda c, p: c["layers"].update(roads=p)),
        ("layers.lithology.path", lambda c, p: c["layers"]["lithology"].update(path=p)),
        ("layers.lithology.codes", lambda c, p: c["layers"]["lithology"].update(codes=p)),
        ("layers.landuse.path", lambda c, p: c["layers"]["landuse"].update(path=p)),
        ("layers.landuse.codes", lambda c, p: c["layers"]["landuse"].update(codes=p)),
        ("layers.extra.rain", lambda c, p: c["layers"]["extra"].update(rain=p)),
        ("hotspots.reference", lambda c, p: c["hotspots"].update(reference=p)),
        (
            "hotspots.reference_other_moving.0",
            lambda c, p: c["hotspots"].update(reference_other_moving=[p]),
        ),
    ],
)
def test_every_missing_input_file_is_named_with_its_key(demo_config, schema, root, key, set_path):
    cfg = validate_config(demo_config, schema)
    set_path(cfg, "missing/nothing.gpkg")
    with pytest.raises(ConfigError) as err:
        check_paths(cfg, base=root)
    msg = str(err.value)
    assert f"config key '{key}': file 'missing/nothing.gpkg' does not exist." in msg
    assert msg.count("does not exist") == 1  # only the key that was broken


def test_missing_track_folder_is_named(demo_config, schema, root):
    cfg = validate_config(demo_config, schema)
    cfg["insar"]["tracks"]["dsc_142"]["path"] = "missing/track"
    with pytest.raises(ConfigError, match=r"'insar.tracks.dsc_142.path': folder 'missing/track'"):
        check_paths(cfg, base=root)


def test_valid_crs_strings_pass(demo_config, schema):
    cfg = copy.deepcopy(demo_config)
    cfg["study_area"]["crs"] = "EPSG:32717"
    cfg["inventory"]["crs"] = "EPSG:4326"  # a CSV inventory may be in degrees
    cfg["insar"]["tracks"]["asc_018"]["crs"] = "+proj=utm +zone=17 +south +datum=WGS84"
    validate_config(cfg, schema)
