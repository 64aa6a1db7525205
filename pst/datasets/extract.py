"""Safe archive extraction: every member is checked before anything is written.

Refused (the whole archive, with the member named): absolute paths, ``..`` components, symbolic or hard links
that point outside the target, device files and FIFOs. Extraction then goes through tarfile's ``data`` filter as a
second guard. Members are written into a staging folder inside the target and moved into place only once the whole
archive has been read to its end, so a truncated, empty or damaged archive leaves nothing behind (and is one line
naming it): tarfile itself ends an archive quietly at a damaged header after the first, so what follows the last
member is read too and must be the end-of-archive zeros. A marker file records the archive's size and time: a
finished extraction is a no-op on rerun, and an archive replaced since is extracted again, where a file that changed
gets a time newer than the copies made from it (so they are made again).
"""
from __future__ import annotations

import filecmp
import gzip
import lzma
import os
import shutil
import tarfile
import zipfile
import zlib
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Iterable, Iterator

from pst.io import write_text

# what a damaged archive raises while it is read (a gzip CRC or trailing garbage: BadGzipFile; bz2's "Invalid data
# stream" is an OSError without an errno, unlike a disk's errors)
_DAMAGED = (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error, IsADirectoryError, gzip.BadGzipFile,
            lzma.LZMAError)


def _damaged(err: BaseException) -> bool:
    return isinstance(err, _DAMAGED) or (isinstance(err, OSError) and err.errno is None)


ARCHIVES = (".tar.gz", ".tgz", ".tar", ".zip")      # the archive names a dataset's files come in


def is_archive(name: str) -> bool:
    return str(name).endswith(ARCHIVES)


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
    """Move ``src``'s entries into ``dst``, merging folders that exist in both. A file the same as the one there is
    left as it was; one that is new or differs gets the time it is moved (the archive's own times are not kept), so a
    copy made from the file before is older and is made again."""
    dst.mkdir(exist_ok=True)
    for entry in src.iterdir():
        there = dst / entry.name
        if entry.is_dir() and not entry.is_symlink() and there.is_dir():
            _move_into(entry, there)
            entry.rmdir()
        elif entry.is_file() and not entry.is_symlink() and there.is_file() and not there.is_symlink() and \
                filecmp.cmp(entry, there, shallow=False):
            entry.unlink()
        else:
            os.utime(entry, follow_symlinks=False)
            os.replace(entry, there)


def _identity(archives: list[Path]) -> str:
    """What a marker records of the archive(s) extracted: size and modification time, a stat each (a checksum would
    read hundreds of GB again at every rerun)."""
    return "".join(f"{a.name} {a.stat().st_size} {a.stat().st_mtime_ns}\n" for a in archives)


def marker(target: Path, name: str) -> Path:
    """The file that says archive ``name`` was extracted whole into ``target``."""
    return Path(target) / f".extracted-{name}"


def _extracted(target: Path, name: str, archives: list[Path]) -> bool:
    """Whether ``target`` holds this archive's extraction: its marker names the archive as it is now (an empty
    marker: written before markers named their archive, taken as it is; an archive removed since, to save its
    space, leaves its extraction as it is)."""
    done = marker(target, name)
    if not done.is_file():
        return False
    return not all(a.exists() for a in archives) or done.read_text() in ("", _identity(archives))


def read_to_end(stream) -> None:
    """After tarfile's last member: only the end-of-archive zeros may follow (tarfile stops quietly at a damaged
    header after the first one: a missing or empty part of a split archive looked like its end)."""
    while block := stream.read(1 << 20):
        if block.count(0) != len(block):
            raise tarfile.ReadError("data follows where the archive would end: a damaged member header, or a part "
                                    "missing or cut")


@contextmanager
def _staged(target: Path, name: str, what: str, archives: list[Path]) -> Iterator[Path]:
    """A staging folder inside ``target`` whose entries move into ``target`` when the block ends; on any error it is
    removed (with ``target`` if this made it) and a damaged archive becomes one line naming ``what``."""
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
        if _damaged(err) and not isinstance(err, UnsafeArchiveError):
            reason = " ".join(str(err).split()) or type(err).__name__          # tarfile's reasons span lines
            raise ValueError(f"{what}: not a readable tar or zip archive ({reason}); fetch it again "
                             "(`pst data fetch`, or place the vendor's files again)") from None
        raise
    _move_into(stage, target)
    stage.rmdir()
    write_text(marker(target, name), _identity(archives))


def extract(archive: str | Path, target: str | Path) -> Path:
    """Extract a .tar/.tar.gz/.tgz or .zip into ``target`` after checking every member."""
    archive, target = Path(archive), Path(target)
    if _extracted(target, archive.name, [archive]):
        return target
    with _staged(target, archive.name, str(archive), [archive]) as stage:
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
                tf.fileobj.seek(tf.offset)
                read_to_end(tf.fileobj)
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
    if _extracted(target, name, parts):
        return target
    empty = next((p for p in parts if p.stat().st_size == 0), None)
    if empty is not None:
        raise ValueError(f"{empty}: an empty part of a split archive (a failed download); download it again and put "
                         "it there")
    what = f"{parts[0].parent}/{name}-00..{len(parts) - 1:02d}" if parts else name
    with _staged(target, name, what, parts) as stage:
        with tarfile.open(fileobj=_Concat(parts), mode="r|*") as tf:
            for m in tf:
                check_tar_member(stage, m, name)
                tf.extract(m, stage, filter="data")
            read_to_end(tf.fileobj)
    return target


__all__ = ["ARCHIVES", "extract", "extract_parts", "is_archive", "marker", "read_to_end", "UnsafeArchiveError"]
