"""How sub-commands are added, the options ``evaluate``, ``heatmap`` and ``spectrum`` share, and how settings merge.

Settings come from, in order of precedence: the command line, a TOML file given with
``--config`` (keys are the long option names, ``-`` or ``_``), then each command's defaults.
Every option therefore defaults to ``None`` in argparse; :func:`resolve_settings` merges. A
TOML value is checked and converted as the command line would convert its text (flags take
TOML booleans only, paths and names strings only, counts integers within :data:`MINIMUM`), so
a wrong value is refused with the key's and the file's names before any work.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 needs the backport
    import tomli as tomllib

__all__ = [
    "COMMON_DEFAULTS",
    "EPILOG",
    "MINIMUM",
    "add_command",
    "add_common_options",
    "check_minimum",
    "read_toml",
    "replayable",
    "resolve_settings",
]

#: Shown under every command's --help.
EPILOG = (
    "Exit status: 0 done, 2 bad input or no room on the disk (the message names the fix), 3 stopped early by "
    "--budget (results written, marked incomplete), 130 interrupted by Ctrl-C (the message says what was "
    "written). --out refuses a folder holding another run's results unless --overwrite (or --resume, which "
    "continues an interrupted evaluate run there)."
)

#: Defaults of the options of :func:`add_common_options` (a command's own defaults may override them).
COMMON_DEFAULTS: dict[str, Any] = {"data": "cifar10-sample", "split": "test", "batch_size": 128, "seed": 0}

#: Keys of the parsed arguments that are not settings.
_NOT_SETTINGS = {"func", "command", "verbose", "config"}


def plain_text(doc: str | None) -> str | None:
    """A docstring as ``--help`` shows it, without reST markup.

    Literals (double backquotes), roles (``:func:`f```) and ``Examples::`` markers become plain text.
    """
    if doc is None:
        return None
    text = re.sub(r":[a-z]+:`~?([^`]+)`", r"\1", doc)
    text = text.replace("``", "")
    return re.sub(r"::$", ":", text, flags=re.MULTILINE)


def add_command(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    run: Callable[[argparse.Namespace], int],
    *,
    help: str,
    doc: str | None,
    common: bool = False,
) -> argparse.ArgumentParser:
    """Add the sub-command ``name``, which calls ``run(args)``; returns its parser for its own options.

    Args:
        subparsers: The ``bandlimit`` parser's sub-commands.
        name: The command's name.
        run: Runs the command and returns the exit code.
        help: One line for ``bandlimit --help``.
        doc: The description under ``bandlimit NAME --help`` (the module docstring, kept as written).
        common: A command that evaluates a model (``evaluate``, ``heatmap``, ``spectrum``): it gets
            the exit-status epilog, the model, data and execution options (:func:`add_common_options`)
            and keeps its parser in ``args._parser`` for :func:`resolve_settings`.
    """
    p = subparsers.add_parser(
        name,
        help=help,
        description=plain_text(doc),
        epilog=EPILOG if common else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.set_defaults(func=run)
    if common:
        add_common_options(p)
        p.set_defaults(_parser=p)
    return p


def add_common_options(p: argparse.ArgumentParser) -> None:
    """Model, data and execution options (every default None so --config can fill them)."""
    m = p.add_argument_group("model")
    m.add_argument(
        "--model",
        help="registry name (`bandlimit models`), a checkpoint file, or pkg.module:build "
        "(a function returning an nn.Module on [0,1] images)",
    )
    m.add_argument("--checkpoint", help="load these weights into --model (must match its architecture)")
    m.add_argument(
        "--defense",
        action="append",
        metavar="SPEC",
        help="wrap the model, innermost first (repeatable): postavg:radius=0.5,samples=15, "
        "lowpass:bandwidth=16, highpass:bandwidth=8, smooth:rho=0.25",
    )
    d = p.add_argument_group("data")
    d.add_argument("--data", help="cifar10-sample (default), cifar10, imagenet, imagenet-sample, folder:PATH, npz:PATH")
    d.add_argument("--data-root", help="folder of cifar10 / imagenet (default $BANDLIMIT_DATA)")
    d.add_argument("--split", choices=("test", "train", "val"), help="split (default test)")
    d.add_argument("--n", type=int, help="use the first N samples (default: all)")
    e = p.add_argument_group("execution")
    e.add_argument("--batch-size", type=int, help="images per batch (default 128)")
    e.add_argument("--device", help="auto (default) | cpu | cuda | cuda:N")
    e.add_argument(
        "--threads",
        type=int,
        help="CPU threads for torch (>= 1; default: the cores the load average leaves free, so a busy "
        "machine does not make torch's threads spin)",
    )
    e.add_argument("--seed", type=int, help="seed of every random draw (default 0)")
    e.add_argument("--out", help="results folder (default runs/<command>-<timestamp>)")
    e.add_argument(
        "--overwrite",
        action="store_const",
        const=True,
        default=None,
        help="replace the results of another run in --out (refused without it)",
    )
    e.add_argument("--config", help="TOML file whose keys (option names) set defaults for these options")
    e.add_argument("--quiet", action="store_const", const=True, default=None, help="no progress bars")


#: Untyped options whose value may also be written as a TOML number, list or boolean, as their
#: command-line text allows (``eps = 0.03`` or ``[0.01, 0.03]``; ``eot = 10`` or ``false``);
#: every other untyped option (paths, names, specs) takes TOML strings only.
_TEXT_FORMS: dict[str, tuple[type, ...]] = {"eps": (int, float, list), "eot": (int, bool)}

#: Smallest value of each count, wherever it is given (command line or --config).
MINIMUM: dict[str, int] = {
    "n": 1,
    "batch_size": 1,
    "seed": 0,
    "analysis_n": 1,
    "n_train": 1,
    "threads": 1,
    "epochs": 1,
    "steps": 1,
    "eval_every": 1,
}

_KINDS = {
    "int": "a value of type int (an integer)",
    "float": "a value of type float (a number)",
    "_number": "a number such as 0.03 or 8/255",
}


def _text(key: str, value: Any, bad: Callable[[str], ValueError]) -> str:
    """The command-line text of a TOML value for an untyped option (see :data:`_TEXT_FORMS`)."""
    if isinstance(value, str):
        return value
    forms = _TEXT_FORMS.get(key.replace("-", "_"), ())
    if not isinstance(value, forms) or (isinstance(value, bool) and bool not in forms):
        raise bad("a string")
    if isinstance(value, bool):
        return "true" if value else "false"  # as written on the command line (--eot false)
    if isinstance(value, list):
        # A list stands for the comma-separated text of the option (eps = [0.1, 0.2]).
        if not all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in value):
            raise bad("a list of numbers or strings")
        return ",".join(str(v) for v in value)
    return str(value)


def _config_value(key: str, value: Any, action: argparse.Action, file: Path) -> Any:
    """A TOML value checked and converted as the command line would take it.

    Raises:
        ValueError: the value has the wrong type for the option (the message names the key and the file).
    """

    def bad(expected: str) -> ValueError:
        return ValueError(f"--config {file}: {key} expected {expected}, got {value!r}")

    if isinstance(action, argparse._AppendAction):
        value = [value] if isinstance(value, str) else value
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise bad("a string or a list of strings")
        return value
    if action.nargs == 0:  # a flag: --quiet, --no-checks, ... (true / false only: "no" is no boolean)
        if not isinstance(value, bool):
            raise bad("true or false (a TOML boolean, without quotes)")
        return value
    if action.nargs == "?" and isinstance(value, bool):  # --resume [PATH]: true is the bare flag
        return action.const if value else None
    if not callable(action.type):
        return _text(key, value, bad)
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise bad(_KINDS.get(getattr(action.type, "__name__", ""), "a number"))
    try:
        # Numbers go through their text (str() of a float reads back exactly), like argv does.
        return action.type(str(value))
    except (TypeError, ValueError, argparse.ArgumentTypeError) as exc:
        raise bad(_KINDS.get(getattr(action.type, "__name__", ""), "a value of another type")) from exc


def read_toml(path: str) -> dict[str, Any]:
    """The table of the ``--config`` file ``path``.

    Raises:
        FileNotFoundError: no such file.
        ValueError: a folder, or a file that is not valid UTF-8 TOML.
    """
    file = Path(path)
    if file.is_dir():
        raise ValueError(f"--config: expected a TOML file, got the folder {str(file)!r}")
    if not file.is_file():
        raise FileNotFoundError(f"--config: expected a TOML file, got missing path {str(file)!r}")
    try:
        with file.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"--config: {file} is not valid TOML ({exc}); fix the file") from exc
    except UnicodeDecodeError as exc:
        raise ValueError(f"--config: {file} is not a UTF-8 text file ({exc.reason}); expected TOML") from exc


def _load_toml(path: str, parser: argparse.ArgumentParser) -> dict[str, Any]:
    file, raw = Path(path), read_toml(path)
    actions = {
        a.dest: a for a in parser._actions if a.dest not in _NOT_SETTINGS | {"help"} and not a.dest.startswith("_")
    }
    values: dict[str, Any] = {}
    for key, value in raw.items():
        dest = key.replace("-", "_")
        action = actions.get(dest)
        if action is None:
            raise ValueError(
                f"--config: unknown key {key!r} in {file} (unknown keys are refused: a misspelt key would be "
                f"ignored); expected some of {sorted(actions)}"
            )
        value = _config_value(key, value, action, file)
        if action.choices is not None and value is not None and value not in action.choices:
            raise ValueError(f"--config {file}: {key} expected one of {list(action.choices)}, got {value!r}")
        values[dest] = value
    return values


def check_minimum(key: str, value: Any, where: str | None = None) -> None:
    """Refuse a count below :data:`MINIMUM` (or not an integer); ``where`` names a --config file.

    Raises:
        ValueError: naming ``--key`` (or the key and the file).
    """
    low = MINIMUM[key]
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < low):
        name = f"--config {where}: {key}" if where else f"--{key.replace('_', '-')}:"
        raise ValueError(f"{name} expected an integer >= {low}, got {value!r}")


def resolve_settings(
    args: argparse.Namespace, parser: argparse.ArgumentParser, defaults: Mapping[str, Any]
) -> dict[str, Any]:
    """Merge the command line over the ``--config`` TOML over ``defaults``.

    Raises:
        ValueError: a bad ``--config`` file or value, or a count (``--n``, ``--batch-size``,
            ``--seed``, ... :data:`MINIMUM`) out of range.
        FileNotFoundError: the ``--config`` file does not exist.
    """
    given = {k: v for k, v in vars(args).items() if k not in _NOT_SETTINGS and not k.startswith("_")}
    merged = {**{k: None for k in given}, **defaults}
    from_file = _load_toml(args.config, parser) if getattr(args, "config", None) else {}
    merged.update(from_file)
    typed = {k: v for k, v in given.items() if v is not None}
    merged.update(typed)
    for key in MINIMUM:
        if key in merged:
            check_minimum(key, merged[key], None if key in typed or key not in from_file else args.config)
    return merged


def replayable(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The settings to write as ``config.toml``: ``--config`` of it repeats the run elsewhere.

    ``out``, ``resume`` and ``overwrite`` are left out (they say where and how, not what, to run).
    """
    return {k: v for k, v in settings.items() if k not in ("out", "resume", "overwrite")}
