"""Typed configuration from TOML, shared by the hub and the node.

A config is a frozen dataclass whose fields carry their documented defaults.
``load_config(cls, path, overrides)`` reads a TOML file, refuses unknown keys
and values of the wrong type with a message naming the key, resolves
``Path`` fields relative to the file's folder, and applies overrides (from
command-line flags) last. Environment variables are not read here: the CLI
turns them into overrides if it wants to.
"""

from __future__ import annotations

import dataclasses
import tomllib
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from hashlist.errors import ConfigError

T = TypeVar("T")


def load_config(cls: type[T], path: Path, overrides: Mapping[str, Any] | None = None) -> T:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"cannot read config {path}: {e.strerror}") from e
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from e
    data.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return config_from_dict(cls, data, base=path.parent, source=str(path))


def config_from_dict(cls: type[T], data: Mapping[str, Any], *, base: Path, source: str) -> T:
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls} is not a dataclass")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{source}: unknown key(s): {', '.join(unknown)}")
    missing = sorted(
        name
        for name, f in fields.items()
        if name not in data
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    )
    if missing:
        raise ConfigError(f"{source}: missing required key(s): {', '.join(missing)}")
    values = {
        name: _convert(name, hints[name], value, base, source) for name, value in data.items()
    }
    try:
        return cls(**values)
    except (ValueError, TypeError) as e:
        raise ConfigError(f"{source}: {e}") from e


_SCALARS: dict[Any, tuple[type | tuple[type, ...], str]] = {
    bool: (bool, "true or false"),
    int: (int, "an integer"),
    float: ((int, float), "a number"),
    str: (str, "a string"),
}


def _convert(name: str, hint: Any, value: Any, base: Path, source: str) -> Any:
    def bad(expected: str) -> ConfigError:
        return ConfigError(f"{source}: {name} must be {expected}, got {value!r}")

    if hint == Path | None:  # optional files: absent from the TOML means None
        return _convert(name, Path, value, base, source)
    if hint is Path:
        if not isinstance(value, str | Path):
            raise bad("a path string")
        p = Path(value)
        return p if p.is_absolute() else base / p
    if hint in _SCALARS:
        types, expected = _SCALARS[hint]
        # bool is an int in Python, never in a config file (except where asked for).
        if not isinstance(value, types) or (hint is not bool and isinstance(value, bool)):
            raise bad(expected)
        return typing.cast(Any, hint)(value)
    if typing.get_origin(hint) is dict:  # a TOML table of str -> scalar, e.g. per list
        if not isinstance(value, dict):
            raise bad("a table")
        item = typing.get_args(hint)[1]
        return {str(k): _convert(f"{name}.{k}", item, v, base, source) for k, v in value.items()}
    if typing.get_origin(hint) is list:
        if not isinstance(value, list):
            raise bad("a list")
        item = typing.get_args(hint)[0]
        return [_convert(name, item, v, base, source) for v in value]
    if typing.get_origin(hint) is tuple:
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise bad("a list of strings")
        item = typing.get_args(hint)[0]
        return tuple(_convert(name, item, v, base, source) for v in value)
    raise TypeError(f"config field {name} has unsupported type {hint}")
