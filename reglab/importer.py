"""Objects named by import strings: ``package.module:NAME`` or ``path/to/file.py:NAME`` (as uvicorn and
gunicorn name an application), with one clear error for each way the string can fail."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path


def is_import_string(text: str) -> bool:
    """Whether ``text`` looks like ``module:NAME`` or ``file.py:NAME`` (not a Windows drive such as ``C:\\``)."""
    module, colon, attribute = text.rpartition(":")
    return bool(
        colon
        and module
        and attribute
        and attribute.replace(".", "").replace("_", "").isalnum()
        and not (len(module) == 1 and module.isalpha())
    )


def import_object(text: str, what: str = "object"):
    """The object ``text`` names; ``ValueError`` in one line when the module or the name cannot be found."""
    if not is_import_string(text):
        raise ValueError(f"{what} {text!r} is not an import string: write module:NAME or file.py:NAME")
    module_text, _, attribute = text.rpartition(":")
    module = _module(module_text, text, what)
    value = module
    for part in attribute.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            names = ", ".join(n for n in dir(module) if not n.startswith("_"))
            raise ValueError(
                f"{what} {text!r}: {module_text} has no {attribute!r} (it has {names or 'no names'})"
            ) from None
    return value


def _module(module_text: str, text: str, what: str):
    if module_text.endswith(".py"):
        path = Path(module_text)
        if not path.is_file():
            raise ValueError(f"{what} {text!r}: no file {path}")
        name = f"reglab_user_{path.stem}"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # while it runs (dataclasses look their module up)
        try:
            spec.loader.exec_module(module)
        except Exception as error:
            raise ValueError(f"{what} {text!r}: importing {path} raised {type(error).__name__}: {error}") from None
        finally:  # not kept: cloudpickle then ships its functions and classes by value to Dask workers
            del sys.modules[name]
        return module
    try:
        return importlib.import_module(module_text)
    except ModuleNotFoundError as error:
        raise ValueError(f"{what} {text!r}: no module {error.name!r} (is it installed, or on PYTHONPATH?)") from None
    except Exception as error:
        raise ValueError(f"{what} {text!r}: importing {module_text} raised {type(error).__name__}: {error}") from None
