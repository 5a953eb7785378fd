"""Helpers for the CLI tests: run the installed ``ledger`` command and build tiny MP4 files byte by
byte (the lying proxy the CLI tests use is ``tests.support.proxy.LyingProxy``)."""

from __future__ import annotations

import os
import select
import shutil
import struct
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

# --- the command ----------------------------------------------------------------------------------


def ledger_cmd() -> list[str]:
    exe = shutil.which("ledger", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "ledger.cli"]


def run_ledger(
    *args: str | Path, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``ledger ARGS`` as a subprocess; ``env`` entries are added to the current environment."""
    return subprocess.run(
        [*ledger_cmd(), *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        stdin=subprocess.DEVNULL,  # never a terminal (keygen would offer a passphrase)
        timeout=120,
        check=False,
    )


def run_ledger_tty(
    *args: str | Path, answers: Sequence[str] = (), env: dict[str, str] | None = None
) -> tuple[int, str]:
    """``ledger ARGS`` on a pseudo-terminal, as a person runs it: each time it prompts (output
    ending in ``": "``), the next of ``answers`` is typed. Returns the exit code and everything
    the terminal showed (typed passphrases are not echoed, so they appear only if leaked)."""
    primary, secondary = os.openpty()
    proc = subprocess.Popen(
        [*ledger_cmd(), *map(str, args)],
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        env={**os.environ, **(env or {})},
        start_new_session=True,
    )
    os.close(secondary)
    shown, pending, deadline = b"", list(answers), time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([primary], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(primary, 4096)
                except OSError:  # EIO: the command closed the terminal (it exited)
                    break
                if not chunk:
                    break
                shown += chunk
                if pending and shown.rstrip(b" ").endswith(b":"):
                    os.write(primary, pending.pop(0).encode() + b"\n")
            elif proc.poll() is not None:
                break
        code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        os.close(primary)
        if proc.poll() is None:
            proc.kill()
    return code, shown.decode(errors="replace").replace("\r\n", "\n")


def value(output: str, name: str) -> str:
    """The word after ``name`` on the first line that starts with it (``key_id   abc`` -> abc)."""
    for line in output.splitlines():
        words = line.split()
        if words and words[0] == name:
            return words[1]
    raise AssertionError(f"no {name!r} line in:\n{output}")


def assert_one_line_failure(result: subprocess.CompletedProcess[str], code: int, *frags: str):
    """The command failed with ``code`` and said why on the last stderr line, no traceback."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("ledger: "), result.stderr
    for frag in frags:
        assert frag in last, (frag, result.stderr)


# --- MP4 files, byte by byte (ISO/IEC 14496-12) ---------------------------------------------------


def box(kind: bytes, payload: bytes, *, large: bool = False) -> bytes:
    if large:  # size 1: a 64-bit largesize follows the type
        return struct.pack(">I4sQ", 1, kind, 16 + len(payload)) + payload
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def mvhd(timescale: int, duration: int, version: int = 0) -> bytes:
    """A complete movie header box (§8.2.2): times, timescale, duration, rate, volume, matrix."""
    if version == 1:
        times = struct.pack(">QQIQ", 3_800_000_000, 3_800_000_000, timescale, duration)
    else:
        times = struct.pack(">IIII", 3_800_000_000, 3_800_000_000, timescale, duration)
    matrix = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
    rest = struct.pack(">IH10x", 0x10000, 0x100) + matrix + bytes(24) + struct.pack(">I", 2)
    return box(b"mvhd", bytes([version, 0, 0, 0]) + times + rest)


def mp4(
    timescale: int = 1000,
    duration: int = 12_500,
    *,
    version: int = 0,
    brand: bytes = b"isom",
    moov_last: bool = True,
    large_mdat: bool = False,
    media: bytes = b"\x00\x00\x00\x10frame-data" * 64,
) -> bytes:
    """A minimal but well-formed MP4: ftyp, mdat and moov(mvhd), moov last as cameras write it."""
    ftyp = box(b"ftyp", brand + struct.pack(">I", 0x200) + b"isomiso2mp41")
    moov = box(b"moov", mvhd(timescale, duration, version))
    mdat = box(b"mdat", media, large=large_mdat)
    return ftyp + (mdat + moov if moov_last else moov + mdat)
