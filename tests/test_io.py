import os
import stat
from pathlib import Path

import pytest

from bandlimit._io import atomic_write


def test_text_bytes_and_mode(tmp_path: Path) -> None:
    target = atomic_write(tmp_path / "sub" / "a.json", '{"x": 1}')
    assert target.read_text() == '{"x": 1}'
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o644
    atomic_write(target, b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01"


def test_callable_sees_the_real_extension(tmp_path: Path) -> None:
    seen: list[str] = []

    def write(tmp: Path) -> None:
        seen.append(tmp.suffix)
        tmp.write_text("png bytes")

    atomic_write(tmp_path / "fig.png", write)
    assert seen == [".png"]
    assert (tmp_path / "fig.png").read_text() == "png bytes"


def test_failure_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "results.json"
    atomic_write(target, "good")

    def broken(tmp: Path) -> None:
        tmp.write_text("half")
        raise RuntimeError("crash while writing")

    with pytest.raises(RuntimeError, match="crash while writing"):
        atomic_write(target, broken)
    assert target.read_text() == "good"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]
