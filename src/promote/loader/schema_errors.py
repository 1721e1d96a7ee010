"""Turn pydantic validation errors into one-line diagnostics at YAML paths.

Pydantic reports locations in model terms: a tagged union adds its tag to the location
(``steps.0.lambda.deploy.function``). We walk the model's annotations alongside the location
to drop those tags, and to know which model an unknown key was written in, so we can suggest
the closest key it does have.
"""

from __future__ import annotations

import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from promote.diagnostics import Diagnostic, Severity, YamlPath
from promote.suggest import did_you_mean

CODE_UNKNOWN_KEY = "S001"
CODE_WRONG_TYPE = "S002"
CODE_MISSING_KEY = "S003"
CODE_INVALID_VALUE = "S004"

_TYPE_NAMES = {
    "string_type": "a string",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "datetime_type": "a date and time (ISO 8601)",
    "datetime_parsing": "a date and time (ISO 8601)",
    "datetime_from_date_parsing": "a date and time (ISO 8601)",
    "timedelta_type": "a duration such as 15m",
    "timedelta_parsing": "a duration such as 15m",
}


def diagnostics_from(exc: ValidationError, root: type[BaseModel], file: str) -> list[Diagnostic]:
    return [_diagnostic(error, root, file) for error in exc.errors()]


def _diagnostic(error: ErrorDetails, root: type[BaseModel], file: str) -> Diagnostic:
    kind = error["type"]
    path, _ = _resolve(root, error["loc"])
    if kind == "extra_forbidden":
        key = str(path[-1]) if path else "?"
        _, parent = _resolve(root, error["loc"][:-1])
        known = _keys(parent) if parent else []
        message = f"unknown key `{key}`{did_you_mean(key, known)}"
        return _error(CODE_UNKNOWN_KEY, message, file, path, at_key=True)
    if kind == "missing":
        return _error(CODE_MISSING_KEY, f"missing required key `{path[-1]}`", file, path[:-1])
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        return _union_tag(error, file, path)
    if kind in _TYPE_NAMES:
        found = _describe(error.get("input"))
        message = f"expected {_TYPE_NAMES[kind]}, found {found}"
        return _error(CODE_WRONG_TYPE, message, file, path)
    if kind in ("literal_error", "enum"):
        return _choice(error, file, path)
    message = error["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return _error(CODE_INVALID_VALUE, message, file, path)


def _error(code: str, message: str, file: str, path: YamlPath, at_key: bool = False) -> Diagnostic:
    return Diagnostic(code, Severity.ERROR, message, file, path, at_key=at_key)


def _union_tag(error: ErrorDetails, file: str, path: YamlPath) -> Diagnostic:
    ctx = error.get("ctx") or {}
    field = str(ctx.get("discriminator", "kind")).strip("'")
    expected = [t.strip().strip("'") for t in str(ctx.get("expected_tags", "")).split(",")]
    if error["type"] == "union_tag_not_found":
        return _error(CODE_MISSING_KEY, f"missing required key `{field}`", file, path)
    tag = str(ctx.get("tag", ""))
    message = f"unknown {field} `{tag}`{did_you_mean(tag, expected)}; known: {', '.join(expected)}"
    return _error(CODE_INVALID_VALUE, message, file, (*path, field))


def _choice(error: ErrorDetails, file: str, path: YamlPath) -> Diagnostic:
    given = str(error.get("input"))
    raw = str((error.get("ctx") or {}).get("expected", ""))
    options = [o.strip().strip("'") for o in raw.replace(" or ", ",").split(",") if o.strip()]
    hint = did_you_mean(given, options)
    return _error(
        CODE_INVALID_VALUE,
        f"invalid value `{given}`{hint}; expected one of {', '.join(options)}",
        file,
        path,
    )


def _describe(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = str(value)
    return f"`{text[:40]}…`" if len(text) > 40 else f"`{text}`"


def _keys(model: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items()]


def _resolve(root: type[BaseModel], loc: tuple[int | str, ...]) -> tuple[YamlPath, Any]:
    """The YAML path for a pydantic location, and the model that holds its last part."""
    path: list[str | int] = []
    current: Any = root
    for part in loc:
        current = _unwrap(current)
        member = _union_member(current, part)
        if member is not None:  # the tag pydantic adds for a tagged union
            current = member
            continue
        path.append(part)
        current = _descend(current, part)
    return tuple(path), _unwrap(current)


def _descend(annotation: Any, part: int | str) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        for name, info in annotation.model_fields.items():
            if part in (name, info.alias):
                if info.discriminator is not None:
                    return Annotated[info.annotation, info]
                return info.annotation
        return None
    origin = get_origin(annotation)
    if origin in (list, tuple, set):
        return get_args(annotation)[0]
    if origin is dict:
        return get_args(annotation)[1]
    return None


def _unwrap(annotation: Any) -> Any:
    """Strip Annotated and Optional, which do not show in locations."""
    while True:
        if get_origin(annotation) is Annotated:
            annotation = get_args(annotation)[0]
            continue
        if _is_union(annotation):
            members = [a for a in get_args(annotation) if a is not type(None)]
            if len(members) == 1:
                annotation = members[0]
                continue
        return annotation


def _is_union(annotation: Any) -> bool:
    return get_origin(annotation) in (Union, types.UnionType)


def _union_member(annotation: Any, part: int | str) -> Any:
    if not _is_union(annotation) or not isinstance(part, str):
        return None
    for member in get_args(annotation):
        member = _unwrap(member)
        if isinstance(member, type) and issubclass(member, BaseModel) and _has_tag(member, part):
            return member
    return None


def _has_tag(model: type[BaseModel], tag: str) -> bool:
    for info in model.model_fields.values():
        if get_origin(info.annotation) is Literal and tag in get_args(info.annotation):
            return True
    return False
