"""Safe checkpoint loading: torch's weights-only unpickler with an explicit allow-list.

Official mmpose checkpoints hold a ``state_dict`` and a ``meta`` with numpy arrays and
scalars; those numpy reconstructors are the only globals allowed. A file that needs any other
global (arbitrary code on unpickling) is refused with the names it asked for.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from annotate.errors import PosekitError


def _numpy_allow_list() -> list[Any]:
    import numpy as np

    allowed: list[Any] = [np.ndarray, np.dtype]
    try:
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # numpy 1.x
        from numpy.core.multiarray import _reconstruct, scalar  # type: ignore
    allowed += [_reconstruct, scalar]
    allowed += [getattr(np.dtypes, n) for n in dir(np.dtypes) if n.endswith("DType")]
    return allowed


def allowed_global_names() -> set[str]:
    names = set()
    for obj in _numpy_allow_list():
        names.add(f"{obj.__module__}.{obj.__qualname__}")
    # numpy 2 pickles its reconstructors under numpy.core (kept for compatibility) or numpy._core
    names |= {n.replace("numpy._core", "numpy.core") for n in names}
    return names


def load_checkpoint_file(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint safely; returns the dict (with ``state_dict``) or raises PosekitError."""
    import pickle

    import torch

    path = Path(path)
    if not path.is_file():
        raise PosekitError(path, "checkpoint file not found")
    try:
        unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
    except Exception as exc:
        raise PosekitError(path, f"not a PyTorch checkpoint ({exc.__class__.__name__})") from None
    refused = sorted(set(unsafe) - allowed_global_names())
    if refused:
        raise PosekitError(path, "refusing to load: the checkpoint needs arbitrary unpickling of "
                                 f"{', '.join(refused[:5])}; only tensors and numpy metadata are allowed")
    try:
        with torch.serialization.safe_globals(_numpy_allow_list()):
            ckpt = torch.load(str(path), map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as exc:
        raise PosekitError(path, f"cannot load checkpoint: {str(exc).splitlines()[0][:200]}") from None
    if isinstance(ckpt, dict) and "state_dict" not in ckpt and all(hasattr(v, "shape") for v in ckpt.values()):
        ckpt = {"state_dict": ckpt}
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("state_dict"), dict):
        raise PosekitError(path, "checkpoint has no state_dict")
    return ckpt


def resolve_checkpoint(spec: str | Path) -> Path:
    """A local path as is; an http(s) URL downloaded once into torch's hub cache."""
    spec = str(spec)
    if spec.startswith(("http://", "https://")):
        import torch.hub

        cache = Path(torch.hub.get_dir()) / "checkpoints"
        cache.mkdir(parents=True, exist_ok=True)
        target = cache / os.path.basename(spec.split("?")[0])
        if not target.exists():
            try:
                torch.hub.download_url_to_file(spec, str(target), progress=True)
            except Exception as exc:
                raise PosekitError(spec, f"cannot download checkpoint ({exc.__class__.__name__}: {exc}); "
                                         f"download it elsewhere and pass --checkpoint PATH") from None
        return target
    return Path(spec)

