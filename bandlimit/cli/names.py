"""Turn a ``--model`` argument into a model: registry name, checkpoint file or import path."""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

from torch import nn

__all__ = ["resolve_model"]

#: ``package.module:function`` (dotted module path, then one attribute name).
_IMPORT_PATH = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")


def resolve_model(spec: str, *, pretrained: bool = True) -> nn.Module:
    """Build the model a user named on the command line.

    Accepted forms, tried in this order:

    * ``path/to/checkpoint.pt``: an existing file, loaded with
      :func:`bandlimit.models.load_checkpoint` (architecture from its metadata);
    * ``package.module:function``: an import path; the function is called with no arguments
      and must return an ``nn.Module`` on [0, 1] images (the "benchmark a new defence" entry);
      the current directory is importable, as with ``python -m``;
    * a registry name (``bandlimit models`` lists them), created with ``pretrained`` weights
      when the name has shipped weights.

    Raises:
        ValueError: unknown name, or an import path whose function returns no ``nn.Module``.
        FileNotFoundError: a path-like spec that does not exist.
    """
    from bandlimit.models import create_model, list_models, load_checkpoint

    path = Path(spec)
    if path.is_file():
        return load_checkpoint(path).eval()
    # Path.suffix is no test here: "my_pkg.module:build" has the suffix ".module:build".
    if _IMPORT_PATH.fullmatch(spec):
        module_name, _, attr = spec.partition(":")
        if str(Path.cwd()) not in sys.path:
            sys.path.insert(0, str(Path.cwd()))
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            raise ValueError(
                f"--model {spec!r}: cannot import module {module_name!r} ({exc}); expected "
                "package.module:function on the Python path"
            ) from exc
        factory = getattr(module, attr, None)
        if factory is None or not callable(factory):
            raise ValueError(f"--model {spec!r}: {module_name!r} has no callable {attr!r}")
        model = factory()
        if not isinstance(model, nn.Module):
            raise ValueError(
                f"--model {spec!r}: expected the function to return a torch.nn.Module on [0,1] "
                f"images, got {type(model).__name__}"
            )
        return model.eval()
    if path.suffix in {".pt", ".pth", ".th", ".ckpt"} or "/" in spec:
        raise FileNotFoundError(f"--model {spec!r}: no such checkpoint file")
    pretrained_names = set(list_models(pretrained=True)) if pretrained else set()
    return create_model(spec, pretrained=spec in pretrained_names).eval()
