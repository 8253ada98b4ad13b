"""Experiment configs: dataclasses whose fields can be set from the command line as key=value.

`--set hidden=512,256 --set lr=3e-4 --set nesterov=true` is parsed by each field's type, so a
typo in a key or a value that does not fit the type fails at once with the valid choices.
"""
from __future__ import annotations

import dataclasses
import typing


class ConfigError(ValueError):
    """A bad experiment name, key or value given on the command line."""


def field_types(config_class) -> dict:
    hints = typing.get_type_hints(config_class)
    return {f.name: hints[f.name] for f in dataclasses.fields(config_class)}


def parse_value(text: str, kind, key: str):
    """Turn the text of `key=text` into a value of the field's type."""
    origin = typing.get_origin(kind)
    if kind is bool:
        lowered = text.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"--set {key}={text}: expected a boolean (true/false)")
    if origin in (tuple, list):
        args = typing.get_args(kind)
        item = args[0] if args else str
        parts = [p for p in text.replace(" ", "").split(",") if p != ""]
        values = [parse_value(p, item, key) for p in parts]
        return tuple(values) if origin is tuple else values
    if kind is str:
        return text
    if kind in (int, float):
        try:
            value = float(text)
        except ValueError:
            raise ConfigError(f"--set {key}={text}: expected {kind.__name__}") from None
        if kind is int:
            if not value.is_integer():
                raise ConfigError(f"--set {key}={text}: expected int")
            return int(value)  # so that 1e4 works for an int field too
        return value
    raise ConfigError(f"--set {key}: fields of type {kind} cannot be set from the command line")


def apply_overrides(config, overrides: dict | None = None, assignments=()):
    """A copy of `config` with `overrides` (a dict of values) and then `assignments`
    ("key=value" strings, parsed by the field types) applied."""
    types = field_types(type(config))
    changes = dict(overrides or {})
    for assignment in assignments:
        if "=" not in assignment:
            raise ConfigError(f"--set {assignment!r}: expected key=value")
        key, text = assignment.split("=", 1)
        key = key.strip()
        if key not in types:
            raise ConfigError(f"--set {key}: unknown key; valid keys: {', '.join(types)}")
        changes[key] = parse_value(text, types[key], key)
    unknown = [k for k in changes if k not in types]
    if unknown:
        raise ConfigError(f"unknown config keys {unknown}; valid keys: {', '.join(types)}")
    return dataclasses.replace(config, **changes)


def describe(config) -> str:
    """One `key = value` line per field, for `macrograd list -v` and the run's first lines."""
    return "\n".join(f"  {f.name} = {getattr(config, f.name)!r}" for f in dataclasses.fields(config))
