"""Config is data: dataclasses, type-checked ``key=value`` overrides, YAML recipes.

A run's config has three sections (``model``, ``data``, ``train``), each a dataclass.
``--set key=value`` finds an unqualified key in model, then train, then data; a
qualified key (``train.lr=1e-3``) names its section. Unknown keys are rejected with the
list of valid ones; values are parsed by the field's annotated type.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from genzoo.errors import GenzooError


def _type_name(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in get_args(tp))
    return getattr(tp, "__name__", str(tp))


def parse_value(raw: Any, tp: Any, *, key: str) -> Any:
    """Parse ``raw`` (a string from the CLI or a YAML value) as type ``tp``."""
    origin = get_origin(tp)
    bad = GenzooError(f"bad value {raw!r} for {key}: expected {_type_name(tp)}")
    if origin in (typing.Union, types.UnionType):
        args = get_args(tp)
        if type(None) in args and (raw is None or (isinstance(raw, str) and raw.lower() in ("none", "null", ""))):
            return None
        for a in args:
            if a is type(None):
                continue
            try:
                return parse_value(raw, a, key=key)
            except GenzooError:
                continue
        raise bad
    if origin is Literal:
        for a in get_args(tp):
            if raw == a or (isinstance(raw, str) and str(a) == raw):
                return a
        raise bad
    if origin in (tuple, list):
        args = get_args(tp)
        if isinstance(raw, str):
            raw = [p for p in raw.replace("(", "").replace(")", "").replace("[", "").replace("]", "").split(",") if p.strip()]
        if not isinstance(raw, (list, tuple)):
            raise bad
        elem = args[0] if args else str
        return origin(parse_value(r.strip() if isinstance(r, str) else r, elem, key=key) for r in raw)
    if tp is bool:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.lower() in ("true", "1", "yes", "on"):
            return True
        if isinstance(raw, str) and raw.lower() in ("false", "0", "no", "off"):
            return False
        raise bad
    if tp is int:
        if isinstance(raw, bool):
            raise bad
        if isinstance(raw, int):
            return raw
        try:
            f = float(raw)
        except (TypeError, ValueError):
            raise bad from None
        if not f.is_integer():
            raise bad
        return int(f)
    if tp is float:
        if isinstance(raw, bool):
            raise bad
        try:
            return float(raw)
        except (TypeError, ValueError):
            raise bad from None
    if tp is str:
        return str(raw)
    raise bad


def _field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls) if f.init}


def build_config(cls: type, values: dict[str, Any] | None = None, *, what: str = "key",
                 base: Any = None) -> Any:
    """Build dataclass ``cls`` from ``values`` (strings or YAML values), checking each.

    ``base`` is an existing instance to start from (defaults otherwise). The dataclass
    may define ``validate(self)`` raising ``GenzooError`` for bad combinations.
    """
    types_ = _field_types(cls)
    cur = dataclasses.asdict(base) if base is not None else {}
    for k, v in (values or {}).items():
        if k not in types_:
            valid = ", ".join(sorted(types_)) or "(none)"
            raise GenzooError(f"unknown {what} {k!r}; valid keys: {valid}")
        cur[k] = parse_value(v, types_[k], key=k)
    try:
        obj = cls(**cur)
    except (TypeError, ValueError) as e:
        raise GenzooError(f"bad {what}: {e}") from None
    check = getattr(obj, "validate", None)
    if callable(check):
        check()
    return obj


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """A JSON-able dict of a config dataclass (tuples become lists)."""
    return dataclasses.asdict(cfg)


def choice(value: Any, allowed: typing.Iterable[Any], key: str) -> None:
    """Raise a GenzooError unless ``value`` is one of ``allowed``."""
    allowed = list(allowed)
    if value not in allowed:
        raise GenzooError(f"bad value {value!r} for {key}: allowed {', '.join(map(repr, allowed))}")


def positive(value: float, key: str, *, allow_zero: bool = False) -> None:
    """Raise a GenzooError unless ``value`` > 0 (or >= 0)."""
    if value < 0 or (value == 0 and not allow_zero):
        raise GenzooError(f"bad value {value!r} for {key}: must be {'>= 0' if allow_zero else '> 0'}")


def split_overrides(sets: list[str]) -> dict[str, str]:
    """Parse ``["a=1", "train.lr=2e-4"]`` into a dict, rejecting malformed items."""
    out: dict[str, str] = {}
    for item in sets:
        if "=" not in item:
            raise GenzooError(f"bad --set {item!r}: expected key=value")
        k, v = item.split("=", 1)
        if not k.strip():
            raise GenzooError(f"bad --set {item!r}: empty key")
        out[k.strip()] = v.strip()
    return out


def route_overrides(overrides: dict[str, Any], sections: dict[str, type]) -> dict[str, dict[str, Any]]:
    """Send each key to its section: qualified ``section.key`` or the first section that has it."""
    routed: dict[str, dict[str, Any]] = {s: {} for s in sections}
    fields = {s: _field_types(c) for s, c in sections.items()}
    for k, v in overrides.items():
        if "." in k:
            sec, key = k.split(".", 1)
            if sec not in sections:
                raise GenzooError(f"unknown config section {sec!r} in {k!r}; sections: {', '.join(sections)}")
            if key not in fields[sec]:
                raise GenzooError(f"unknown key {key!r} for {sec}; valid keys: {', '.join(sorted(fields[sec])) or '(none)'}")
            routed[sec][key] = v
            continue
        for sec in sections:
            if k in fields[sec]:
                routed[sec][k] = v
                break
        else:
            valid = "; ".join(f"{s}: {', '.join(sorted(f)) or '(none)'}" for s, f in fields.items())
            raise GenzooError(f"unknown key {k!r}; valid keys -- {valid}")
    return routed


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a recipe: a YAML mapping (optionally with model/data/train sections)."""
    import yaml

    p = Path(path)
    if not p.is_file():
        raise GenzooError(f"config file not found: {p}")
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as e:
        raise GenzooError(f"config file {p} is not valid YAML: {str(e).splitlines()[0]}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise GenzooError(f"config file {p} must hold a mapping of key: value")
    return data
