"""Safe archive extraction: every member is checked before anything is written.

Refused (the whole archive, with the member named): absolute paths, ``..`` components, symbolic or hard links
that point outside the target, device files and FIFOs. Extraction then goes through tarfile's ``data`` filter as a
second guard. A marker file makes a finished extraction a no-op on rerun.
"""
from __future__ import annotations

import tarfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import Iterable


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


def extract(archive: str | Path, target: str | Path) -> Path:
    """Extract a .tar/.tar.gz/.tgz or .zip into ``target`` after checking every member."""
    archive, target = Path(archive), Path(target)
    marker = target / f".extracted-{archive.name}"
    if marker.exists():
        return target
    target.mkdir(parents=True, exist_ok=True)
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                mode = info.external_attr >> 16
                if not _inside(target, info.filename) or (mode and (mode & 0o170000) not in (0, 0o100000, 0o040000)):
                    raise UnsafeArchiveError(f"{archive}: member {info.filename!r} is a link, special file or "
                                             f"outside {target}; refused")
            zf.extractall(target)
    else:
        try:
            with tarfile.open(archive) as tf:
                members = tf.getmembers()
                for m in members:
                    check_tar_member(target, m, str(archive))
                tf.extractall(target, members=members, filter="data")
        except tarfile.ReadError as err:
            raise ValueError(f"{archive}: not a readable tar or zip archive ({err}); fetch it again") from err
    marker.write_text("")
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
    marker = target / f".extracted-{name}"
    if marker.exists():
        return target
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=_Concat(parts), mode="r|*") as tf:
        for m in tf:
            check_tar_member(target, m, name)
            tf.extract(m, target, filter="data")
    marker.write_text("")
    return target


__all__ = ["extract", "extract_parts", "UnsafeArchiveError"]
