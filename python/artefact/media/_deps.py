"""Optional encoding libraries, imported on first use with wandb's "install ..." errors."""

from __future__ import annotations

import importlib
from typing import Any

PIL_REQUIRED = 'wandb.Image needs the PIL package. To get it, run "pip install pillow".'
NUMPY_REQUIRED = "wandb.Image requires numpy if not supplying PIL Images: pip install numpy"


def require(module: str, message: str) -> Any:
    """`module`, or wandb's `Error(message)` if it cannot be imported (as `util.get_module`)."""
    try:
        return importlib.import_module(module)
    except Exception:  # noqa: BLE001 - wandb treats any import failure as "not installed"
        from ..errors import Error

        raise Error(message) from None


def full_typename(obj: Any) -> str:
    """`module.Class` of `obj`, without importing the module (wandb's `get_full_typename`)."""
    cls = obj.__class__
    name = f"{cls.__module__}.{cls.__name__}"
    return obj.__name__ if name in ("builtins.module", "__builtin__.module") else name


def is_torch_tensor(obj: Any) -> bool:
    """True for a torch Tensor/Variable (by type name: torch is never imported here)."""
    name = full_typename(obj)
    return name.startswith("torch.") and ("Tensor" in name or "Variable" in name)
