"""Safe archive extraction: every member is checked before anything is written.

Refused (the whole archive, with the member named): absolute paths, ``..`` components, symbolic or hard links
that point outside the target, device files and FIFOs. Extraction then goes through tarfile's ``data`` filter as a
second guard. Members are written into a staging folder inside the target and moved into place only once the whole
archive has been read, so a truncated, empty or damaged archive leaves nothing behind (and is one line naming it).
A marker file makes a finished extraction a no-op on rerun.
"""
from __future__ import annotations

import os
import shutil
import tarfile
import zipfile
import zlib
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Iterable, Iterator

# what a damaged archive raises while it is read
_DAMAGED = (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error, IsADirectoryError)


class UnsafeArchiveError(ValueError):
    pass


def _inside(target: Path, name: str) -> bool:
    p = PurePosixPath(name)
    if p.is_absolute() or name.startswith(("/", "\\")) or ".." in p.parts:
        return False
    return (target / p).resolve().is_relative_to(target.resolve())


def check_tar_member(target: Path, m: tarfile.TarInfo, archive: str) -> None:
    if not _inside(target, m.name):
        raise UnsafeArchiveError(f"{archive}: member {m.name!r} would be written outside {target}; refused")
    if m.isdev() or m.isfifo():
        raise UnsafeArchiveError(f"{archive}: member {m.name!r} is a device or FIFO; refused")
    if m.issym():
        link = str(PurePosixPath(m.name).parent / m.linkname)
        if PurePosixPath(m.linkname).is_absolute() or not _inside(target, link):
            raise UnsafeArchiveError(f"{archive}: link {m.name!r} -> {m.linkname!r} escapes {target}; refused")
    if m.islnk() and not _inside(target, m.linkname):
        raise UnsafeArchiveError(f"{archive}: hard link {m.name!r} -> {m.linkname!r} escapes {target}; refused")


def _move_into(src: Path, dst: Path) -> None:
    """Move ``src``'s entries into ``dst``, merging folders that exist in both."""
    dst.mkdir(exist_ok=True)
    for entry in src.iterdir():
        there = dst / entry.name
        if entry.is_dir() and not entry.is_symlink() and there.is_dir():
            _move_into(entry, there)
        else:
            os.replace(entry, there)


@contextmanager
def _staged(target: Path, name: str, what: str) -> Iterator[Path]:
    """A staging folder inside ``target`` whose entries move into ``target`` when the block ends; on any error it
    is removed (with ``target`` if this made it) and a damaged archive becomes one line naming ``what``."""
    made = not target.exists()
    stage = target / f".partial-{name}"
    shutil.rmtree(stage, ignore_errors=True)         # ours, from an extraction that was killed
    stage.mkdir(parents=True)
    try:
        yield stage
    except BaseException as err:
        shutil.rmtree(stage, ignore_errors=True)
        if made:
            shutil.rmtree(target, ignore_errors=True)
        if isinstance(err, _DAMAGED) and not isinstance(err, UnsafeArchiveError):
            reason = " ".join(str(err).split()) or type(err).__name__          # tarfile's reasons span lines
            raise ValueError(f"{what}: not a readable tar or zip archive ({reason}); fetch it again "
                             "(`pst data fetch`, or place the vendor's files again)") from None
        raise
    _move_into(stage, target)
    stage.rmdir()
    (target / f".extracted-{name}").write_text("")


def extract(archive: str | Path, target: str | Path) -> Path:
    """Extract a .tar/.tar.gz/.tgz or .zip into ``target`` after checking every member."""
    archive, target = Path(archive), Path(target)
    if (target / f".extracted-{archive.name}").exists():
        return target
    with _staged(target, archive.name, str(archive)) as stage:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                for info in zf.infolist():
                    mode = info.external_attr >> 16
                    if not _inside(stage, info.filename) or (mode and (mode & 0o170000) not in
                                                             (0, 0o100000, 0o040000)):
                        raise UnsafeArchiveError(f"{archive}: member {info.filename!r} is a link, special file "
                                                 f"or outside {target}; refused")
                zf.extractall(stage)
        else:
            with tarfile.open(archive) as tf:
                members = tf.getmembers()
                for m in members:
                    check_tar_member(stage, m, str(archive))
                tf.extractall(stage, members=members, filter="data")
    return target


class _Concat:
    """A read-only stream over several files in order (split archives: ``cat part-00 part-01 ...``)."""

    def __init__(self, paths: Iterable[Path]):
        self._paths = list(paths)
        self._fh = None

    def read(self, size: int = -1) -> bytes:
        chunks, want = [], size
        while want != 0 and (self._paths or self._fh):
            if self._fh is None:
                self._fh = open(self._paths.pop(0), "rb")
            chunk = self._fh.read(want if want > 0 else -1)
            if not chunk:
                self._fh.close()
                self._fh = None
                continue
            chunks.append(chunk)
            if want > 0:
                want -= len(chunk)
        return b"".join(chunks)


def extract_parts(parts: list[Path], target: str | Path, name: str) -> Path:
    """Extract a tar(.gz) split into parts, streaming, each member checked before it is written."""
    target = Path(target)
    if (target / f".extracted-{name}").exists():
        return target
    what = f"{parts[0].parent}/{name}-00..{len(parts) - 1:02d}" if parts else name
    with _staged(target, name, what) as stage:
        with tarfile.open(fileobj=_Concat(parts), mode="r|*") as tf:
            for m in tf:
                check_tar_member(stage, m, name)
                tf.extract(m, stage, filter="data")
    return target


__all__ = ["extract", "extract_parts", "UnsafeArchiveError"]
