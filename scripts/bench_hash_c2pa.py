"""Benchmark what reading C2PA manifests costs ``ledger hash`` on files that carry none.

Writes a folder of files without manifests — MP4 clips (``--clips`` of ``--mb`` MB, random
media bytes: the common case, decided by the file's own boxes) and, with ``--small N``, N small
JPEG and WAV files (their formats are asked of the C2PA library, which costs a call per file) —
and hashes each set with the same code ``ledger hash`` runs (``hash_files``), with C2PA reading
on and off, alternating rounds side by side, so the ratio compares like with like. Prints the
best time of each and the ratio, against the target: reading C2PA slows hashing by at most 10 %.

    python scripts/bench_hash_c2pa.py                 # 16 clips of 32 MB
    python scripts/bench_hash_c2pa.py --small 2000    # also 2,000 small JPEG/WAV files
"""

from __future__ import annotations

import argparse
import os
import struct
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ledger.content.c2pa import have_library
from ledger.content.hashing import FileToHash, hash_files

TARGET_SLOWDOWN = 0.10


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def write_clip(path: Path, size: int) -> None:
    """An MP4 as cameras write it: ftyp, mdat (random bytes), moov with its mvhd last."""
    mvhd = _box(b"mvhd", bytes(4) + struct.pack(">IIII", 0, 0, 1000, 60_000) + bytes(80))
    ftyp = _box(b"ftyp", b"isom" + struct.pack(">I", 0x200) + b"isomiso2mp41")
    with open(path, "wb") as f:
        f.write(ftyp)
        f.write(struct.pack(">I4s", 8 + size, b"mdat"))
        for _ in range(size // (1 << 20)):
            f.write(os.urandom(1 << 20))
        f.write(os.urandom(size % (1 << 20)))
        f.write(_box(b"moov", mvhd))


def write_small(folder: Path, n: int) -> list[Path]:
    """Small JPEG and WAV files, without manifests (valid enough for the library to parse)."""
    jpeg = b"\xff\xd8\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01" + bytes(7)
    jpeg += b"\xff\xd9"
    pcm = os.urandom(20_000)
    fmt = struct.pack("<HHIIHH", 1, 1, 8000, 16000, 2, 16)
    wav = b"WAVE" + _riff(b"fmt ", fmt) + _riff(b"data", pcm)
    wav = b"RIFF" + struct.pack("<I", len(wav)) + wav
    paths = []
    for i in range(n):
        path = folder / (f"s{i:05d}.jpg" if i % 2 else f"s{i:05d}.wav")
        path.write_bytes(jpeg + os.urandom(30_000) if i % 2 else wav)
        paths.append(path)
    return paths


def _riff(kind: bytes, data: bytes) -> bytes:
    return kind + struct.pack("<I", len(data)) + data + (b"\x00" if len(data) % 2 else b"")


def timed(files: list[FileToHash], read_c2pa: bool) -> float:
    started = time.perf_counter()
    for result in hash_files(files, 1, read_c2pa=read_c2pa):
        if read_c2pa and getattr(result, "c2pa", None) is None:
            raise SystemExit(f"C2PA was not read for {result}: is c2pa-python installed?")
    return time.perf_counter() - started


def compare(name: str, paths: list[Path], rounds: int) -> bool:
    files = [FileToHash(p, p.stat().st_size) for p in paths]
    total = sum(f.size for f in files)
    timed(files, False)  # into the page cache
    off, on = [], []
    for _ in range(rounds):
        off.append(timed(files, False))
        on.append(timed(files, True))
    best_off, best_on = min(off), min(on)
    slowdown = best_on / best_off - 1
    ok = slowdown <= TARGET_SLOWDOWN
    print(
        f"{name}: {len(files)} files, {total / 1e6:,.0f} MB; without C2PA {best_off:.3f} s"
        f" ({total / best_off / 1e9:.2f} GB/s), with C2PA {best_on:.3f} s;"
        f" slowdown {slowdown * 100:+.1f} %, {(best_on - best_off) / len(files) * 1e6:+.0f} µs a"
        f" file (target <= {TARGET_SLOWDOWN * 100:.0f} %:"
        f" {'meets' if ok else 'MISSES'})"
    )
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=16, help="MP4 clips (default 16)")
    parser.add_argument("--mb", type=int, default=32, help="MB per clip (default 32)")
    parser.add_argument("--small", type=int, default=0, help="also N small JPEG/WAV files")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of each (best taken)")
    args = parser.parse_args()
    if not have_library():
        raise SystemExit("install c2pa-python first: pip install 'consent-ledger[c2pa]'")
    ok = True
    with tempfile.TemporaryDirectory(prefix="bench-c2pa-") as tmp:
        folder = Path(tmp)
        clips = [folder / f"clip{i:03d}.mp4" for i in range(args.clips)]
        for clip in clips:
            write_clip(clip, args.mb * 1_000_000)
        ok &= compare("MP4 clips", clips, args.rounds)
        if args.small:
            small = folder / "small"
            small.mkdir()
            ok &= compare("small JPEG/WAV", write_small(small, args.small), args.rounds)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
