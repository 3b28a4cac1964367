"""Validation of a slidemap configuration against its JSON Schema, with defaults filled in.

The schema (``workflow/schemas/config.schema.yaml``, JSON Schema draft 2020-12) gives every
key a type, a description and a default. :func:`validate_config` fills the defaults, checks
the result (and the CRS strings the schema cannot check) and raises
:class:`~slidemap.errors.ConfigError` with the dotted path of each offending key
(``insar.tracks.asc_018.colums``) and, for a misspelt key, the closest valid name.
:func:`check_paths` then checks that every input file the configuration names exists. Both
run when the workflow is parsed, before any job.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from slidemap.errors import ConfigError

__all__ = [
    "load_schema",
    "validate_config",
    "check_paths",
    "fill_defaults",
    "schema_reference_markdown",
]


def load_schema(path: str | Path) -> dict:
    """Read a YAML JSON-Schema file.

    Parameters
    ----------
    path
        Path of the schema file.

    Returns
    -------
    dict
        The schema.
    """
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def _resolve(schema: Mapping, node: Mapping) -> Mapping:
    """Follow a local ``$ref`` (``#/$defs/name``) of ``node`` inside ``schema``."""
    while "$ref" in node:
        ref = node["$ref"]
        if not ref.startswith("#/"):
            raise ValueError(f"only local $ref are supported, got {ref!r}")
        target: Any = schema
        for part in ref[2:].split("/"):
            target = target[part]
        node = target
    return node


def fill_defaults(config: Any, node: Mapping, schema: Mapping) -> Any:
    """Return a copy of ``config`` with every missing key that has a schema default filled in.

    Parameters
    ----------
    config
        The (partial) configuration value at this level.
    node
        The schema node describing ``config``.
    schema
        The whole schema (for ``$ref`` resolution).

    Returns
    -------
    Any
        The configuration with defaults; values the user gave are never changed.
    """
    node = _resolve(schema, node)
    if not isinstance(config, dict):
        return config
    out = dict(config)
    for key, sub in node.get("properties", {}).items():
        sub_r = _resolve(schema, sub)
        if key not in out and "default" in sub_r:
            out[key] = copy.deepcopy(sub_r["default"])
        if key in out:
            out[key] = fill_defaults(out[key], sub_r, schema)
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        for key in out:
            if key not in node.get("properties", {}):
                out[key] = fill_defaults(out[key], extra, schema)
    return out


def _dotted(path: Iterable) -> str:
    """Join a jsonschema error path into ``a.b.c``."""
    parts = [str(p) for p in path]
    return ".".join(parts) if parts else "<top level>"


def _describe(error: jsonschema.ValidationError, schema: Mapping) -> str:
    """Turn one jsonschema error into a sentence naming the key path and the fix."""
    where = _dotted(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = list(_resolve(schema, error.schema).get("properties", {}))
        unknown = [k for k in error.instance if k not in allowed]
        msgs = []
        for key in unknown:
            full = key if where == "<top level>" else f"{where}.{key}"
            hint = difflib.get_close_matches(key, allowed, n=1)
            guess = f" Did you mean '{hint[0]}'?" if hint else ""
            msgs.append(
                f"unknown config key '{full}'.{guess} Allowed keys here: {', '.join(allowed)}."
            )
        return " ".join(msgs)
    if error.validator == "required":
        return f"config key '{where}': {error.message}. Add it (see config/README.md)."
    if "propertyNames" in error.schema_path:
        return (
            f"config key '{where}': the name {error.instance!r} is not allowed "
            f"({error.message}). Use letters, digits and underscores, starting with a letter."
        )
    desc = _resolve(schema, error.schema).get("description", "")
    desc = f" ({desc.strip()})" if desc else ""
    return f"config key '{where}': {error.message}.{desc}"


def validate_config(config: Mapping, schema: Mapping) -> dict:
    """Fill defaults into ``config`` and validate it against ``schema``.

    Parameters
    ----------
    config
        The configuration as read from YAML.
    schema
        The JSON Schema (draft 2020-12).

    Returns
    -------
    dict
        A new configuration dict with every default filled in.

    Raises
    ------
    ConfigError
        Listing every problem, each with the dotted key path.
    """
    filled = fill_defaults(dict(config), schema, schema)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(filled), key=lambda e: list(map(str, e.absolute_path)))
    lines = [f"- {_describe(e, schema)}" for e in errors]
    if not errors:
        lines = [f"- {msg}" for msg in _value_problems(filled)]
    if lines:
        raise ConfigError("invalid configuration:\n" + "\n".join(lines))
    return filled


def _crs_problem(value: str, *, projected: bool) -> str | None:
    """Return why ``value`` is not a usable CRS (None when it is).

    Parameters
    ----------
    value
        A CRS string (``"EPSG:32717"``, WKT, PROJ).
    projected
        Also require a projected CRS in metres.

    Returns
    -------
    str or None
        The problem, in words.
    """
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    try:
        crs = CRS.from_user_input(value)
    except CRSError:
        return f"{value!r} is not a CRS pyproj understands. Use e.g. 'EPSG:32717'"
    if projected:
        unit = crs.axis_info[0].unit_name if crs.axis_info else ""
        if not crs.is_projected or unit not in ("metre", "meter"):
            return (
                f"{value!r} is not projected in metres. Use a projected CRS such as the UTM "
                "zone of the study area (e.g. 'EPSG:32717')"
            )
    return None


def _value_problems(config: Mapping) -> list[str]:
    """Check the values the schema cannot: CRS strings (every key that holds one).

    Parameters
    ----------
    config
        A configuration that passed the schema (defaults filled).

    Returns
    -------
    list of str
        One sentence per problem, naming the key path.
    """
    keys: list[tuple[str, Any, bool]] = [
        ("study_area.crs", config.get("study_area", {}).get("crs"), True),
        ("inventory.crs", config.get("inventory", {}).get("crs"), False),
    ]
    for name, track in config.get("insar", {}).get("tracks", {}).items():
        keys.append((f"insar.tracks.{name}.crs", track.get("crs"), False))
    out = []
    for key, value, projected in keys:
        if value is not None:
            problem = _crs_problem(value, projected=projected)
            if problem:
                out.append(f"config key '{key}': {problem}.")
    return out


def _paths_to_check(config: Mapping) -> list[tuple[str, str, bool]]:
    """List (key path, file path, must be a directory) of every input the config names."""
    out: list[tuple[str, str, bool]] = [("dem.path", config["dem"]["path"], False)]
    sa = config.get("study_area", {})
    if sa.get("boundary"):
        out.append(("study_area.boundary", sa["boundary"], False))
    for name, track in config.get("insar", {}).get("tracks", {}).items():
        out.append((f"insar.tracks.{name}.path", track["path"], True))
    inv = config.get("inventory", {})
    if inv.get("path"):
        out.append(("inventory.path", inv["path"], False))
    layers = config.get("layers", {})
    for key in ("faults", "rivers", "roads"):
        if layers.get(key):
            out.append((f"layers.{key}", layers[key], False))
    for key in ("lithology", "landuse"):
        layer = layers.get(key) or {}
        for sub in ("path", "codes"):
            if layer.get(sub):
                out.append((f"layers.{key}.{sub}", layer[sub], False))
    for key, path in layers.get("extra", {}).items():
        out.append((f"layers.extra.{key}", path, False))
    hot = config.get("hotspots", {})
    if hot.get("reference"):
        out.append(("hotspots.reference", hot["reference"], False))
    for i, path in enumerate(hot.get("reference_other_moving") or []):
        out.append((f"hotspots.reference_other_moving.{i}", path, False))
    return out


def check_paths(config: Mapping, base: str | Path = ".") -> None:
    """Check that every input file and folder the configuration names exists.

    Parameters
    ----------
    config
        A validated configuration (defaults filled).
    base
        Directory that relative paths are relative to.

    Raises
    ------
    ConfigError
        Naming each key whose file or folder is missing.
    """
    problems = []
    for key, path, is_dir in _paths_to_check(config):
        p = Path(base) / path
        if is_dir and not p.is_dir():
            problems.append(f"- config key '{key}': folder '{path}' does not exist.")
        elif is_dir and not sorted(p.glob("*.csv")):
            problems.append(
                f"- config key '{key}': folder '{path}' holds no *.csv file. "
                "Put the track's CSV batches there."
            )
        elif not is_dir and not p.is_file():
            problems.append(f"- config key '{key}': file '{path}' does not exist.")
    if problems:
        raise ConfigError("configuration names missing inputs:\n" + "\n".join(problems))


def _type_text(node: Mapping) -> str:
    """Short human-readable type of a schema node."""
    if "enum" in node:
        return " | ".join(repr(v) if isinstance(v, str) else str(v) for v in node["enum"])
    t = node.get("type", "")
    return " or ".join(t) if isinstance(t, list) else str(t)


def schema_reference_markdown(schema: Mapping) -> str:
    """Render every key of the schema as a Markdown table (key path, type, default, meaning).

    Parameters
    ----------
    schema
        The configuration JSON Schema.

    Returns
    -------
    str
        A Markdown table, one row per key; map entries whose names the user chooses are
        shown as ``<name>``.
    """
    rows = ["| key | type | default | description |", "|---|---|---|---|"]

    def walk(node: Mapping, path: str) -> None:
        node = _resolve(schema, node)
        for key, sub in node.get("properties", {}).items():
            sub_r = _resolve(schema, sub)
            full = f"{path}{key}"
            default = sub_r.get("default", "(required)")
            if isinstance(default, dict | list) and default:
                default = yaml.safe_dump(default, default_flow_style=True).strip()
            elif default == {}:
                default = "{}"
            elif default is None or isinstance(default, bool):
                default = {None: "null", True: "true", False: "false"}[default]
            desc = " ".join(str(sub_r.get("description", "")).split())
            rows.append(f"| `{full}` | {_type_text(sub_r)} | `{default}` | {desc} |")
            walk(sub_r, f"{full}.")
        extra = node.get("additionalProperties")
        if isinstance(extra, dict):
            walk(extra, f"{path}<name>.")

    walk(schema, "")
    return "\n".join(rows) + "\n"


BEGIN_KEYS = "<!-- BEGIN KEYS (generated by: python -m slidemap.config config/README.md) -->"
END_KEYS = "<!-- END KEYS -->"


def update_readme(readme: str | Path, schema: Mapping) -> bool:
    """Rewrite the generated key table of ``config/README.md`` from the schema.

    Parameters
    ----------
    readme
        The README holding the ``BEGIN KEYS`` / ``END KEYS`` markers.
    schema
        The configuration schema.

    Returns
    -------
    bool
        True if the file changed.
    """
    text = Path(readme).read_text(encoding="utf-8")
    head, rest = text.split(BEGIN_KEYS, 1)
    _, tail = rest.split(END_KEYS, 1)
    new = f"{head}{BEGIN_KEYS}\n{schema_reference_markdown(schema)}{END_KEYS}{tail}"
    if new != text:
        Path(readme).write_text(new, encoding="utf-8")
    return new != text


if __name__ == "__main__":  # pragma: no cover - maintenance command
    import sys

    _root = Path(__file__).resolve().parents[2]
    _schema = load_schema(_root / "workflow" / "schemas" / "config.schema.yaml")
    changed = update_readme(sys.argv[1] if len(sys.argv) > 1 else "config/README.md", _schema)
    print("updated" if changed else "up to date")
