"""One config reader and one config identity for every TOML file of the project.

* :func:`read_toml` reads a file (a missing file or bad TOML is a
  :class:`~optical.errors.ConfigError` naming the file);
* :func:`build` turns one table into a frozen dataclass with ONE type rule: a value
  must fit the field's type hint (``int`` is accepted for ``float``, a list for a
  ``tuple[str, ...]`` / ``tuple[int, ...]``; ``bool`` is never a number); unknown keys
  are errors that list the known ones (no silent merges); the value checks of the
  dataclass's ``__post_init__`` are errors prefixed with the table they came from;
* :func:`at_least` is the one check of a count, size or depth (``key must be >= N``);
* :func:`build_sections` / :func:`overridden` / :func:`differences` handle sectioned
  configs (``[model]``, ``[data]``, …) and their overrides and resume checks;
* :func:`config_key` is the identity of a config: the hash every cached artifact
  (trained students, NMT models, ablation variants) is keyed by.

This module imports nothing of the project but :mod:`optical.errors`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tomllib
import types
import typing
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from .errors import ConfigError

__all__ = [
    "asdict_shallow",
    "at_least",
    "build",
    "build_sections",
    "config_key",
    "differences",
    "overridden",
    "plain",
    "read_toml",
]


EXTENDS = "extends"
"""The top-level key by which a TOML file names the file it overrides."""


def read_toml(path: str | Path) -> dict[str, Any]:
    """A TOML file as a dict; a missing file or bad TOML is a :class:`ConfigError`.

    A file whose top level has ``extends = "OTHER.toml"`` is read as OTHER (itself
    possibly extending another) with this file's values laid over it: tables merge key by
    key, any other value (arrays included) replaces the base's. OTHER is found as written
    (from the working directory, like every path in the configs) or else beside this
    file. A variant is then a few lines (``configs/forgetting/``), not a copy."""
    return _read_toml(Path(path), ())


def _read_toml(path: Path, chain: tuple[Path, ...]) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: unreadable config file: {exc}") from exc
    if EXTENDS not in raw:
        return raw
    base = raw.pop(EXTENDS)
    if not isinstance(base, str) or not base.strip():
        raise ConfigError(f"{path}: {EXTENDS} must name a TOML file, not {base!r}")
    found = Path(base) if Path(base).is_file() else path.parent / base
    chain = (*chain, path.resolve())
    if found.resolve() in chain:
        raise ConfigError(f"{path}: {EXTENDS} = {base!r} makes a circle ({found})")
    if not found.is_file():
        raise ConfigError(f"{path}: {EXTENDS} = {base!r}: no such file (nor {found})")
    return _laid_over(_read_toml(found, chain), raw)


def _laid_over(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``top`` laid over it: tables merged recursively, other values replaced."""
    merged = dict(base)
    for key, value in top.items():
        below = merged.get(key)
        both_tables = isinstance(value, Mapping) and isinstance(below, Mapping)
        merged[key] = _laid_over(dict(below), value) if both_tables else value
    return merged


def plain(value: Any) -> Any:
    """``value`` with tuples turned into lists, recursively (JSON/TOML-friendly)."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def asdict_shallow(obj: Any) -> dict[str, Any]:
    """Field → value of a dataclass, without recursing into nested dataclasses."""
    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}


def at_least(owner: object, minimum: int, *keys: str, section: str = "", note: str = "") -> None:
    """Raise :class:`ConfigError` naming the first of ``keys`` (fields of the dataclass
    ``owner``) whose value is below ``minimum``: ``section.key must be >= minimum``
    (``note`` says what the smallest value means, e.g. ``"0 = all"``)."""
    for key in keys:
        value = getattr(owner, key)
        if value < minimum:
            name = f"{section}.{key}" if section else key
            hint = f" ({note})" if note else ""
            raise ConfigError(f"{name} must be >= {minimum}{hint}, not {value!r}")


_SCALARS: dict[type, str] = {
    int: "an integer",
    float: "a number",
    bool: "true or false",
    str: "a string",
}


def _scalar(value: Any, hint: type, where: str) -> Any:
    ok = (
        isinstance(value, bool)
        if hint is bool
        else not isinstance(value, bool) and isinstance(value, int | float)
        if hint is float
        else not isinstance(value, bool) and isinstance(value, hint)
    )
    if not ok:
        raise ConfigError(f"{where}: expected {_SCALARS[hint]}, got {value!r}")
    return float(value) if hint is float else value


def _union(value: Any, hint: Any, where: str) -> Any:
    args = typing.get_args(hint)
    if value is None and type(None) in args:
        return None
    for arg in args:
        if arg is type(None):
            continue
        try:
            return check_type(value, arg, where)
        except ConfigError:
            pass
    raise ConfigError(f"{where}: expected {hint}, got {value!r}")


def _sequence(value: Any, hint: Any, where: str) -> tuple:
    item = (typing.get_args(hint) or (str,))[0]
    label = "integers" if item is int else "strings"
    if not isinstance(value, list | tuple) or not all(
        isinstance(v, item) and not isinstance(v, bool) for v in value
    ):
        raise ConfigError(f"{where}: expected a list of {label}, got {value!r}")
    return tuple(value)


def check_type(value: Any, hint: Any, where: str) -> Any:
    """``value`` converted to the field type ``hint`` (int → float, list → tuple), or a
    :class:`ConfigError` naming ``where``."""
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        return _union(value, hint, where)
    if origin is tuple:
        return _sequence(value, hint, where)
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a table, got {value!r}")
        return dict(value)
    if dataclasses.is_dataclass(hint):
        section = where.rsplit(".", 1)[-1].replace("_", "-")
        raise ConfigError(f"{where}: is a section: write it as [{section}]")
    if hint in _SCALARS:
        return _scalar(value, hint, where)
    raise ConfigError(f"{where}: unsupported field type {hint}")  # pragma: no cover


def build(cls: type, values: Any, where: str) -> Any:
    """The dataclass ``cls`` from one TOML table ``values`` (``where`` names it in errors)."""
    if not isinstance(values, dict):
        raise ConfigError(f"{where}: expected a table of key = value, got {values!r}")
    hints = typing.get_type_hints(cls)
    known = [f.name for f in dataclasses.fields(cls)]
    unknown = set(values) - set(known)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(sorted(unknown))}; known: {', '.join(known)}"
        )
    converted = {k: check_type(v, hints[k], f"{where}.{k}") for k, v in values.items()}
    try:
        return cls(**converted)
    except ConfigError as exc:  # a value check of the dataclass: say which file it is in
        if str(exc).startswith(where):
            raise
        raise ConfigError(f"{where}: {exc}") from exc


def build_sections(
    raw: Any,
    sections: Mapping[str, type],
    where: str,
    default_name: str,
    defaults: Mapping[str, Mapping[str, Any]] | None = None,
) -> tuple[str, dict[str, Any]]:
    """``(name, {section: dataclass})`` of a sectioned config dict: unknown sections,
    a bad ``name`` and bad keys are :class:`ConfigError`; ``defaults`` (per section)
    are filled in under the given keys."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a table, got {type(raw).__name__}")
    raw = dict(raw)
    unknown = set(raw) - set(sections) - {"name"}
    if unknown:
        raise ConfigError(
            f"{where}: unknown section(s) or key(s) {', '.join(sorted(unknown))}; "
            f"known: name, {', '.join(sections)}"
        )
    name = raw.pop("name", default_name)
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{where}.name: expected a non-empty string, got {name!r}")
    built = {}
    for key, section_cls in sections.items():
        values = raw.get(key, {})
        if not isinstance(values, dict):
            raise ConfigError(f"{where}[{key}]: expected a table, got {values!r}")
        built[key] = build(
            section_cls, {**(defaults or {}).get(key, {}), **values}, f"{where}[{key}]"
        )
    return name, built


def overridden(
    raw: dict[str, Any], sections: Collection[str], overrides: Mapping[str, Any]
) -> dict[str, Any]:
    """``raw`` (a ``to_dict()``) with some keys of some sections (and ``name``) replaced."""
    raw = dict(raw)
    for section, values in overrides.items():
        if section == "name":
            raw["name"] = values
            continue
        if section not in sections or not isinstance(values, dict):
            raise ConfigError(f"unknown config section {section!r}")
        raw[section] = {**raw[section], **values}
    return raw


def differences(
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    prefix: str = "",
    leaves: Collection[str] = ("loss.options",),
) -> list[str]:
    """Dotted keys whose values differ between two nested config dicts (``leaves``: keys
    compared as one value, not key by key)."""
    diffs = []
    for key in sorted(set(old) | set(new)):
        dotted = f"{prefix}{key}"
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict) and dotted not in leaves:
            diffs += differences(a, b, f"{dotted}.", leaves)
        elif a != b:
            diffs.append(dotted)
    return diffs


def without(config: Mapping[str, Any], ignore: Collection[str]) -> dict[str, Any]:
    """A nested config dict less the dotted keys in ``ignore`` (``"name"``, ``"run.threads"``)."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        if key in ignore:
            continue
        inner = {k.split(".", 1)[1] for k in ignore if k.startswith(f"{key}.")}
        out[key] = without(value, inner) if isinstance(value, Mapping) and inner else value
    return out


def config_key(
    config: Mapping[str, Any],
    ignore: Collection[str],
    precision: Mapping[str, str],
    extra: Mapping[str, Any] | None = None,
) -> str:
    """The identity of a config: 12 hex digits of the SHA-256 of its canonical JSON.

    ``ignore``: the dotted keys that cannot change what the config produces (run-only
    keys such as logging cadence, thread count, the name); ``precision``: what the
    numeric precision adds (:func:`optical.precision.precision_key`; empty in fp32), so
    models trained in bf16 and fp32 never share a key; ``extra``: further identity,
    e.g. what determines a back-translated training set."""
    payload = without(config, ignore)
    payload.update(extra or {})
    payload.update(precision)
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:12]
