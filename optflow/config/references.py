"""Import paths in a config (`my_pkg.models:build`) -> the functions they name, checked before anything runs.

Users plug in their own model, data and training loop by reference, as LightningCLI's `class_path` and Hydra's
`_target_` do. A reference is a string, so it travels to spawned workers and to the tracking process, and each
resolves it itself, from the project directory (the working directory) and `PYTHONPATH`. A function passed from
Python that cannot be imported by name (a lambda, a function of a notebook or of `__main__`) is held in this
process under a local name: it works in one process, and `--workers N` refuses it in one line.
"""

from __future__ import annotations

import importlib
import inspect
import os
import re
import sys
from collections.abc import Callable
from typing import Any

from optflow.errors import UsageError

LOCAL_PREFIX = "<local>:"  # a function passed from Python that only this process can call
_LOCAL: dict[str, Callable[..., Any]] = {}
_PATTERN = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


def is_reference(value: str) -> bool:
    """Whether `value` reads `module:attribute` (or is a local name made by `reference_of`)."""
    return value.startswith(LOCAL_PREFIX) or bool(_PATTERN.match(value))


def reference_of(function: Callable[..., Any]) -> str:
    """The reference of a function passed from Python: `module:qualname` when that import gives it back (it then
    works in every process), else a local name that works in this process only."""
    module, name = getattr(function, "__module__", None), getattr(function, "__qualname__", "")
    if module and module != "__main__" and "<" not in name:
        try:
            if _import(module, name) is function:
                return f"{module}:{name}"
        except (ImportError, AttributeError):
            pass
    label = name or type(function).__name__
    key = f"{LOCAL_PREFIX}{label}#{id(function):x}"
    _LOCAL[key] = function
    return key


def is_local(reference: str) -> bool:
    return reference.startswith(LOCAL_PREFIX)


def describe_local(reference: str) -> str:
    """What a user called a local reference: the function's name (`<lambda>`, `build`)."""
    return reference[len(LOCAL_PREFIX) :].split("#", 1)[0]


def resolve(where: str, reference: str, arguments: tuple[str, ...]) -> Callable[..., Any]:
    """The function `reference` names, callable with `arguments` (their names, for the message); a `UsageError`
    naming `where` when it does not import, is not callable or takes other arguments."""
    if is_local(reference):
        function = _LOCAL.get(reference)
        if function is None:
            raise UsageError(
                f"{where} must be importable by name in every process (a function at the top level of a module, "
                f"not in __main__ or a notebook); got {describe_local(reference)}"
            )
    else:
        if not _PATTERN.match(reference):
            raise UsageError(f"{where} must be an import path like my_package.module:function; got {reference!r}")
        module, name = reference.split(":", 1)
        _project_on_path()
        try:
            function = _import(module, name)
        except ImportError as error:
            raise UsageError(
                f"{where} must name an importable module; got {reference!r}: {error}{_looked_in(module, error)}"
            ) from None
        except AttributeError:
            raise UsageError(f"{where} must name an attribute of module {module}; got {reference!r}") from None
    if not callable(function):
        raise UsageError(f"{where} must name a function; got {reference!r}, a {type(function).__name__}")
    try:
        inspect.signature(function).bind(*arguments)
    except TypeError:
        wanted = ", ".join(arguments)
        raise UsageError(
            f"{where} must take ({wanted}); got {reference!r} with signature {_signature(function)}"
        ) from None
    except ValueError:  # a builtin without a signature: accept it and let the call tell
        pass
    return function


def _import(module: str, name: str) -> Any:
    value: Any = importlib.import_module(module)
    for part in name.split("."):
        value = getattr(value, part)
    return value


def _signature(function: Callable[..., Any]) -> str:
    try:
        return str(inspect.signature(function))
    except (TypeError, ValueError):
        return "(unknown)"


def _looked_in(module: str, error: ImportError) -> str:
    """Where Python looked for the user's own module (not for a package it imports in turn)."""
    missing = getattr(error, "name", None) or ""
    if not missing or not (module == missing or module.startswith(f"{missing}.")):
        return ""
    pythonpath = os.environ.get("PYTHONPATH") or "unset"
    return f" (looked in the working directory {os.getcwd()}, PYTHONPATH ({pythonpath}) and site-packages)"


def _project_on_path() -> None:
    """The working directory (the project, under `mlflow run`) is importable, as it is for `python -m`."""
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)
