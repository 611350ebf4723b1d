"""Small helpers shared by the modules that read suite files: near-miss hints, TOML values
as hashable tuples and back, and the objects a suite names by import path (``"pkg.mod:name"``).
"""

from __future__ import annotations

import difflib
import importlib
import inspect
from collections.abc import Callable, Iterable
from typing import Any


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``" (did you mean 'adam'?)"`` for a near miss among choices, else ``""``."""
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def frozen(value: Any) -> Any:
    """TOML lists as tuples, recursively, so that specs compare and print as written."""
    if isinstance(value, list | tuple):
        return tuple(frozen(v) for v in value)
    if isinstance(value, dict):
        return {k: frozen(v) for k, v in value.items()}
    return value


def jsonable(value: Any) -> Any:
    """Tuples as lists, recursively: the form that survives a JSON round trip unchanged."""
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    return value


def import_object(path: str) -> Any:
    """The object named by ``"pkg.module:attribute"``; ImportError says which part is missing."""
    module_name, sep, attribute = path.partition(":")
    if not sep or not module_name or not attribute:
        raise ImportError(f"import path must look like 'pkg.module:name', got {path!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ImportError(f"cannot import module {module_name!r} of {path!r}: {err}") from err
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise ImportError(f"module {module_name!r} has no attribute {attribute!r}") from None


def accepted_keywords(function: Callable, exclude: Iterable[str] = ()) -> list[str] | None:
    """The keyword parameters of ``function`` minus ``exclude``; None when it takes **kwargs."""
    parameters = inspect.signature(function).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return None
    return [name for name in parameters if name not in exclude]


def keyword_defaults(function: Any) -> dict[str, Any]:
    """The default of each keyword parameter of ``function`` that has one."""
    return {
        name: p.default
        for name, p in inspect.signature(function).parameters.items()
        if p.default is not inspect.Parameter.empty
    }
