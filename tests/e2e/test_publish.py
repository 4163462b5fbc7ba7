"""Publishing is all or nothing, whatever the input and whoever is killed (real processes)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hashlist.cli.demo import Federation, random_signals

LIST = "takeitdown"  # leaves of at most 65,535 bytes: 300,000 hashes make many versions


@pytest.fixture
def fed(tmp_path: Path) -> Iterator[Federation]:
    with Federation(tmp_path / "fed") as f:
        f.start_hub()
        with f.operator() as op:
            op.create_list(LIST)
        yield f


def _publish(fed: Federation, path: Path) -> subprocess.Popen[str]:
    certs = fed.certs
    return subprocess.Popen(
        [sys.executable, "-m", "hashlist.cli", "hub", "publish", "--list", LIST,
         "--add-file", str(path), "--hub", f"127.0.0.1:{fed.hub_port}",
         "--ca", str(certs / "ca.pem"), "--cert", str(certs / "operator.pem"),
         "--key", str(certs / "operator.key")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _size_and_hashes(fed: Federation) -> tuple[int, int]:
    with fed.operator() as op:
        s = op.status()[0]
    return s.size, s.hashes


def _file(fed: Federation, lines: list[str], name: str = "hashes.txt") -> Path:
    path = fed.workdir / name
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_bad_last_line_publishes_nothing(fed: Federation) -> None:
    path = _file(fed, [*random_signals(150_000, "md5"), "md5:this-is-not-hex"])
    done = _publish(fed, path)
    _, err = done.communicate(timeout=120)
    assert done.returncode == 2
    assert "line 150001: " in err
    assert "nothing was published" in err
    assert "Traceback" not in err
    assert _size_and_hashes(fed) == (0, 0)


def test_a_binary_file_gets_a_clear_error(fed: Federation) -> None:
    path = fed.workdir / "photo.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + os.urandom(4096))
    done = _publish(fed, path)
    _, err = done.communicate(timeout=60)
    assert done.returncode == 2
    assert "binary data" in err or "not UTF-8" in err
    assert "Traceback" not in err
    assert _size_and_hashes(fed) == (0, 0)


def test_a_large_file_becomes_visible_whole(fed: Federation) -> None:
    """Hundreds of thousands of hashes make many versions; a reader never sees a part."""
    path = _file(fed, random_signals(300_000, "md5"))
    seen: set[int] = set()
    done = threading.Event()

    def watch() -> None:
        with fed.operator() as op:
            while not done.is_set():
                seen.add(op.status()[0].size)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        proc = _publish(fed, path)
        out, err = proc.communicate(timeout=300)
    finally:
        done.set()
        watcher.join()
    assert proc.returncode == 0, err
    size, hashes = _size_and_hashes(fed)
    assert size > 10  # many versions ...
    assert f"versions 1..{size}: +300000" in out
    assert seen <= {0, size}  # ... visible together or not at all
    assert hashes == 300_000


@pytest.mark.parametrize("victim", ["hub", "cli"])
def test_a_kill_mid_publish_loses_and_duplicates_nothing(fed: Federation, victim: str) -> None:
    signals = random_signals(400_000, "md5")
    path = _file(fed, signals)
    proc = _publish(fed, path)
    time.sleep(2.5)  # reading and checking the file, streaming, or committing
    if victim == "hub":
        fed.stop("hub", signal.SIGKILL)
        proc.communicate(timeout=300)  # the CLI gives up after its retries
        fed.start_hub()  # same database, same port
    else:
        proc.kill()
        proc.wait()
    size, hashes = _size_and_hashes(fed)
    assert hashes in (0, 400_000), (size, hashes)  # all of it or none of it
    # The operator runs the same command again: it completes, nothing twice.
    again = _publish(fed, path)
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    final_size, final_hashes = _size_and_hashes(fed)
    assert final_hashes == 400_000
    if hashes:
        assert final_size == size  # the first attempt had committed: nothing new
        assert "400000 already listed" in out
    with fed.operator() as op:
        leaves = [leaf for _, batch in op.leaves(LIST, 0, final_size) for leaf in batch]
    added = [line for leaf in leaves for line in leaf.split(b"\n") if line.startswith(b"add ")]
    assert len(added) == len(set(added)) == 400_000
