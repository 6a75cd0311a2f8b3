"""Human names for the Python objects migrations hold (data-step code, defaults)."""

from __future__ import annotations

import functools
import inspect
from typing import Any


def describe_callable(code: Any) -> str:
    """``module.qualname`` of a migration's callable, whatever kind it is.

    RunPython accepts any callable: functions, lambdas, ``functools.partial`` objects, callable
    instances and bound methods. Only some of them have ``__qualname__``.
    """
    if isinstance(code, functools.partial):
        bound = [repr(a) for a in code.args] + [f"{k}={v!r}" for k, v in code.keywords.items()]
        return f"partial({describe_callable(code.func)}, {', '.join(bound)})"
    if inspect.ismethod(code):
        return f"{describe_callable(code.__func__)} bound to {type(code.__self__).__qualname__}"
    module = getattr(code, "__module__", None) or getattr(type(code), "__module__", "")
    name = getattr(code, "__qualname__", None)
    if name is None:  # a callable instance
        name = f"{type(code).__qualname__} instance"
    return f"{module}.{name}" if module else name
