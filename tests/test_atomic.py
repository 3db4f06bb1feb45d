"""core.atomic: outputs appear whole or not at all."""

import pytest

from core.atomic import atomic_path, write_text


def test_content_replaces_the_target_only_when_the_block_completes(tmp_path):
    target = tmp_path / "a.txt"
    write_text(target, "old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]
    with atomic_path(target, durable=True) as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".txt" and tmp.name.startswith(".")
        tmp.write_text("new")
    assert target.read_text() == "new" and sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_temporary_files_of_dead_writers_are_not_listed_and_are_swept(tmp_path):
    from core.atomic import finished_files, is_partial, sweep_partials, temp_path
    from tests.robust import dead_pid

    dead = dead_pid()
    (tmp_path / "000001.exr").write_bytes(b"done")
    stale = tmp_path / f".000002.partial-{dead}.exr"
    stale.write_bytes(b"cut short")
    mine = temp_path(tmp_path / "000003.exr")  # a live writer's (this process): never swept
    mine.write_bytes(b"being written")
    other = tmp_path / f".film.partial-{dead}.mp4"
    other.write_bytes(b"another output's")
    assert is_partial(stale) and is_partial(mine) and not is_partial(tmp_path / "000001.exr")
    assert [p.name for p in finished_files(tmp_path, "*.exr")] == ["000001.exr"]
    assert sweep_partials(tmp_path, stems=("000002",)) == 1 and not stale.exists() and other.exists()
    assert sweep_partials(tmp_path) == 1 and not other.exists() and mine.exists()
