"""``ledger hash`` on real files: digests, sizes, media types, MP4 durations, folders, manifests."""

from __future__ import annotations

import hashlib
import io
import os
import struct
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from ledger.content.c2pa import NONE, C2paSummary
from ledger.content.manifest import ManifestItem, read_manifest
from ledger.content.media import mp4_duration
from tests.cli.clitools import assert_one_line_failure, box, ledger_cmd, mp4, mvhd, run_ledger


def hash_lines(stdout: str) -> list[list[str]]:
    """Each file's line as [sha256, bytes, duration, media type, path] (the indented lines below
    a file, what its C2PA manifest says, left out)."""
    return [line.split("  ", 4) for line in stdout.splitlines() if not line.startswith(" ")]


@pytest.mark.parametrize(
    ("data", "duration", "media_type"),
    [
        (mp4(1000, 12_500), "13", "video/mp4"),  # 12.5 s, rounded up
        (mp4(1000, 12_000), "12", "video/mp4"),
        (mp4(90_000, 900_000, version=1), "10", "video/mp4"),  # 64-bit mvhd
        (mp4(600, 36_000, moov_last=False), "60", "video/mp4"),  # "fast start": moov first
        (mp4(600, 36_000, large_mdat=True), "60", "video/mp4"),  # mdat with a 64-bit size
        (mp4(600, 1_800, brand=b"qt  "), "3", "video/quicktime"),
        (mp4(30, 3_000, brand=b"M4V "), "100", "video/x-m4v"),
        (mp4(1000, 2**32 - 1), "-", "video/mp4"),  # all ones: duration unknown
        (mp4(0, 5_000), "-", "video/mp4"),  # no timescale
        (mp4()[:-40], "-", "video/mp4"),  # truncated moov
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", "-", "audio/wav"),
        (b"\x89PNG\r\n\x1a\n" + bytes(20), "-", "image/png"),
    ],
)
def test_hash_reads_digest_size_media_type_and_duration(
    tmp_path: Path, data: bytes, duration: str, media_type: str
) -> None:
    path = tmp_path / "clip.bin"
    path.write_bytes(data)
    result = run_ledger("hash", path)
    assert result.returncode == 0, result.stderr
    [(sha, size, dur, kind, shown)] = hash_lines(result.stdout)
    assert sha == hashlib.sha256(data).hexdigest()
    assert int(size) == len(data)
    assert (dur, kind, shown) == (duration, media_type, str(path))


def test_media_type_falls_back_to_the_extension(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("plain words")
    (tmp_path / "mystery").write_bytes(b"\x01\x02\x03")
    result = run_ledger("hash", tmp_path / "notes.txt", tmp_path / "mystery")
    assert [line[3] for line in hash_lines(result.stdout)] == ["text/plain", "-"]


@pytest.mark.parametrize(
    "data",
    [
        b"",
        box(b"moov", b""),
        box(b"moov", box(b"mvhd", b"\x00\x00")),  # mvhd too short
        box(b"moov", box(b"mvhd", b"\x02" + bytes(40))),  # unknown version
        struct.pack(">I4s", 4, b"moov"),  # a size smaller than the header
        struct.pack(">I4s", 0, b"free") + box(b"moov", mvhd(1, 1)),  # size 0 swallows the rest
        struct.pack(">I4s", 1, b"moov") + b"\x00\x00",  # largesize cut off
        struct.pack(">I4s", 9999, b"moov") + mvhd(1, 1),  # claims more than the file
    ],
)
def test_mp4_duration_is_none_for_damaged_boxes(data: bytes) -> None:
    assert mp4_duration(io.BytesIO(data), len(data)) is None


def test_large_file_is_hashed_in_chunks(tmp_path: Path) -> None:
    data = os.urandom(9 * 1024 * 1024 + 12345)  # over two 4 MiB chunks, not aligned
    (tmp_path / "big.mov").write_bytes(data)
    result = run_ledger("hash", tmp_path / "big.mov")
    [(sha, size, dur, kind, _)] = hash_lines(result.stdout)
    assert (sha, int(size)) == (hashlib.sha256(data).hexdigest(), len(data))
    assert (dur, kind) == ("-", "video/quicktime")  # from the extension: no ftyp box


def _footage(root: Path) -> dict[str, bytes]:
    files = {
        "b/2.mp4": mp4(1000, 2000),
        "b/10.mp4": mp4(1000, 10_000),
        "a.mp4": mp4(1000, 1000),
        "b/c/deep.txt": b"deep",
        ".hidden": b"hidden files count too",
    }
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return files


def test_folders_recursively_in_a_stable_order_and_skips_are_said(tmp_path: Path) -> None:
    root = tmp_path / "footage"
    files = _footage(root)
    os.symlink(root / "b", root / "link-to-b")  # a folder symlink: not followed
    os.symlink(root / "a.mp4", root / "z-link.mp4")  # a file symlink: hashed
    os.mkfifo(root / "pipe")
    result = run_ledger("hash", root, "--jobs", "3", "--include-hidden")
    assert result.returncode == 0, result.stderr
    shown = [line[4] for line in hash_lines(result.stdout)]
    names = [".hidden", "a.mp4", "b/10.mp4", "b/2.mp4", "b/c/deep.txt", "z-link.mp4"]
    assert shown == [str(root / n) for n in names]
    digests = [line[0] for line in hash_lines(result.stdout)]
    assert digests[:5] == [hashlib.sha256(files[n]).hexdigest() for n in names[:5]]
    assert f"skipped {root / 'link-to-b'}: symlink to a folder" in result.stderr
    assert f"skipped {root / 'pipe'}: not a regular file" in result.stderr
    assert "2 path(s) skipped, 6 hashed" in result.stderr
    # one thread gives the same lines
    assert run_ledger("hash", root, "--jobs", "1", "--include-hidden").stdout == result.stdout


def test_hidden_and_empty_files_are_left_out_unless_asked_and_exclude_patterns(
    tmp_path: Path,
) -> None:
    root = tmp_path / "footage"
    _footage(root)
    (root / ".DS_Store").write_bytes(b"finder")
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (root / "empty.mp4").write_bytes(b"")
    (root / "b" / "c" / "notes.txt").write_text("notes")
    result = run_ledger("hash", root)
    assert result.returncode == 0, result.stderr
    assert [Path(line[4]).relative_to(root).as_posix() for line in hash_lines(result.stdout)] == [
        "a.mp4", "b/10.mp4", "b/2.mp4", "b/c/deep.txt", "b/c/notes.txt",
    ]  # fmt: skip
    assert (
        f"ledger: left out 3 hidden: {root / '.DS_Store'}, {root / '.git'}/, {root / '.hidden'}"
        " (--include-hidden hashes them)" in result.stderr
    )
    assert f"ledger: left out 1 empty: {root / 'empty.mp4'} (--include-empty" in result.stderr
    assert "skipped" not in result.stderr  # left out on purpose is not an error

    every = run_ledger("hash", root, "--include-hidden", "--include-empty")
    relative = {Path(line[4]).relative_to(root).as_posix() for line in hash_lines(every.stdout)}
    assert {".DS_Store", ".git/HEAD", ".hidden", "empty.mp4"} <= relative

    # a pattern matches a name anywhere, or the path under the folder given; folders too
    picked = run_ledger("hash", root, "--exclude", "*.txt", "--exclude", "b/1*")
    assert picked.returncode == 0, picked.stderr
    assert [Path(line[4]).relative_to(root).as_posix() for line in hash_lines(picked.stdout)] == [
        "a.mp4", "b/2.mp4",
    ]  # fmt: skip
    assert "ledger: left out 3 matching --exclude:" in picked.stderr
    # a hidden file named explicitly is taken; an excluded one is not
    named = run_ledger("hash", root / ".hidden", root / "a.mp4", "--exclude", "a.*")
    assert [line[4] for line in hash_lines(named.stdout)] == [str(root / ".hidden")]


@pytest.mark.parametrize("name", ["footage.json", "footage.csv"])
def test_out_writes_a_manifest_of_what_was_printed(tmp_path: Path, name: str) -> None:
    root = tmp_path / "footage"
    _footage(root)
    result = run_ledger("hash", root, "--out", tmp_path / name)
    assert result.returncode == 0, result.stderr
    expected = [
        ManifestItem(sha, int(size), None if d == "-" else int(d), None if k == "-" else k, p)
        for sha, size, d, k, p in hash_lines(result.stdout)
    ]
    written = read_manifest(tmp_path / name)
    assert [replace(item, c2pa=None) for item in written] == expected
    assert written[0].c2pa == C2paSummary(NONE)  # a plain MP4: no C2PA manifest, said so
    assert expected[0].duration_s == 1  # a.mp4 (.hidden is left out)
    assert expected[0].media_type == "video/mp4"


def test_progress_bar_when_asked_and_not_when_piped(tmp_path: Path) -> None:
    (tmp_path / "f.mp4").write_bytes(mp4())
    shown = run_ledger("hash", tmp_path / "f.mp4", "--progress", "always")
    assert "hashing" in shown.stderr
    assert "/s  ETA" in shown.stderr
    assert "(1/1 files)" in shown.stderr
    quiet = run_ledger("hash", tmp_path / "f.mp4")  # stderr is a pipe here: auto means off
    assert "hashing" not in quiet.stderr


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["does-not-exist"], "no such file or folder: does-not-exist"),
        (["empty"], "no files to hash"),
        (["f", "--jobs", "0"], "--jobs must be at least 1"),
    ],
)
def test_hash_usage_errors_are_one_line(tmp_path: Path, args: list[str], fragment: str) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "f").write_bytes(b"x")
    assert_one_line_failure(run_ledger("hash", *args, cwd=tmp_path), 2, fragment)


def test_a_reader_that_goes_away_ends_it_quietly(tmp_path: Path) -> None:
    for i in range(300):
        (tmp_path / f"{i:03}.txt").write_text(str(i))
    proc = subprocess.Popen(
        [*ledger_cmd(), "hash", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    proc.stdout.close()  # like `| head` exiting before the output is written
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 141
    assert b"Traceback" not in err
    assert b"Exception ignored" not in err


def test_a_short_file_is_not_typed_by_the_previous_one(tmp_path: Path) -> None:
    """The read buffer is reused: a 3-byte file must not be sniffed with an MP4's leftovers."""
    (tmp_path / "a.mp4").write_bytes(mp4())
    (tmp_path / "b").write_bytes(b"abc")
    result = run_ledger("hash", tmp_path, "--jobs", "1")
    assert [line[3] for line in hash_lines(result.stdout)] == ["video/mp4", "-"]
