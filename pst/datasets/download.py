"""HTTP downloads that survive a flaky network and never leave a half file where a whole one is expected.

- resume with HTTP Range from ``NAME.part``, sent with If-Range and the validator (ETag or Last-Modified) of the file
  the part began as (``NAME.part.since``), so a file changed on the server since is fetched whole again, never
  spliced; a server that ignores Range restarts the file;
- retries with exponential back-off; a progress bar (tqdm);
- the finished file is renamed into place atomically, an archive (.tar.gz, .tgz, .tar, .zip) only once it is read
  whole to its end: a body with no Content-Length that the connection cut short is resumed like any cut transfer,
  and one that is whole but no archive (a login page) is moved aside (``NAME.bad``) and nothing is recorded;
- size and sha256 are recorded in ``checksums.json`` beside the file at the first download and verified on every
  later fetch; a mismatch stops with an error naming the file, which is moved aside (``NAME.bad``), never deleted.
"""
from __future__ import annotations

import bz2
import gzip
import http.client
import json
import lzma
import os
import re
import tarfile
import time
import urllib.error
import urllib.request
import zipfile
import zlib
from contextlib import nullcontext
from pathlib import Path
from typing import Callable, Optional

from tqdm import tqdm

from pst.datasets.extract import ARCHIVES, is_archive, read_to_end
from pst.io import made_folder, sha256sum, write_text

CHUNK = 1 << 20
RECORD = "checksums.json"


class ChecksumError(RuntimeError):
    """A file differs from the size/sha256 recorded at its first download."""


class DownloadError(RuntimeError):
    """A download that failed after its retries (the partial file stays for the next resume), or one that is not
    the whole archive its name says (kept aside as ``NAME.bad``, nothing recorded)."""


def load_record(folder: Path) -> dict:
    """{file: {size, sha256}} of the downloads recorded in ``folder`` ({} when none); a malformed record refused."""
    path = folder / RECORD
    if not path.exists():
        return {}
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err}); fix or delete it to record checksums anew") from err
    if not isinstance(record, dict) or not all(isinstance(v, dict) and {"size", "sha256"} <= set(v)
                                               for v in record.values()):
        raise ValueError(f"{path}: not a checksum record ({{file: {{size, sha256}}}}); fix or delete it to record "
                         "checksums anew")
    return record


def verify(path: Path, record: Optional[dict] = None) -> dict:
    """Check ``path`` against its recorded size/sha256; record them if absent. Returns the entry."""
    folder = path.parent
    record = load_record(folder) if record is None else record
    entry = {"size": path.stat().st_size, "sha256": sha256sum(path)}
    known = record.get(path.name)
    if known is None:
        record[path.name] = entry
        write_text(folder / RECORD, json.dumps(record, indent=1, sort_keys=True) + "\n")
        return entry
    if known != entry:
        aside = path.with_name(path.name + ".bad")
        os.replace(path, aside)
        raise ChecksumError(f"{path}: size/sha256 {entry['size']}/{entry['sha256'][:12]}... differ from the "
                            f"recorded {known['size']}/{known['sha256'][:12]}... in {folder / RECORD}; the file is "
                            f"kept as {aside}. Fetch again, or remove its entry from {RECORD} if the source changed.")
    return entry


def _open(url: str, start: int, timeout: float, since: Optional[str] = None):
    """A GET from byte ``start``; with ``since`` (the validator of the file the part began as) the server sends the
    rest only if the file is still that one, else all of it (If-Range): a part is never finished from another file."""
    ranged = {"Range": f"bytes={start}-", **({"If-Range": since} if since else {})} if start else {}
    req = urllib.request.Request(url, headers={"User-Agent": "pst-fetch/1", **ranged})
    return urllib.request.urlopen(req, timeout=timeout)


def _validator(resp) -> Optional[str]:
    """What identifies the file a response is of: a strong ETag, else Last-Modified (None: the server gives none)."""
    etag = resp.headers.get("ETag")
    return etag if etag and not etag.startswith("W/") else resp.headers.get("Last-Modified")


def download(url: str, dest: str | Path, retries: int = 5, backoff: float = 1.0, timeout: float = 60.0,
             progress: bool = True, check: Optional[Callable[[Path], None]] = None) -> Path:
    """Fetch ``url`` to ``dest`` (resuming, retrying, verified, atomic). An existing ``dest`` is verified only.
    ``check(path)`` may refuse a new download's bytes with a ValueError before they are renamed into place and
    recorded; they are then kept as ``NAME.bad``."""
    dest = Path(dest)
    if dest.exists():
        verify(dest)
        return dest
    with made_folder(dest.parent):
        return _fetch(url, dest, retries, backoff, timeout, progress, check)


class _NotWhole(Exception):
    """A body that ended before its archive did (no Content-Length said where it should end)."""


def _fetch(url: str, dest: Path, retries: int, backoff: float, timeout: float, progress: bool,
           check: Optional[Callable[[Path], None]]) -> Path:
    part = dest.with_name(dest.name + ".part")
    attempt, fresh, sized = 0, False, False
    while True:
        start = part.stat().st_size if part.exists() and not fresh else 0
        fresh = False
        try:
            try:
                sized = _get(url, part, start, timeout, progress, dest.name)
            except urllib.error.HTTPError as err:
                if err.code != 416 or not start:
                    raise
                total = _range_total(err)
                if total != start:                  # a stale part (longer, or the file changed): from byte 0 again
                    fresh = True
                    continue
                sized = True                        # nothing left to send: the part is the whole file
            reason = _not_whole(part, dest.name) if is_archive(dest.name) else None
            if reason is not None and not sized and attempt < retries:
                raise _NotWhole(reason)
            break
        except urllib.error.HTTPError as err:
            if err.code < 500 or attempt >= retries:
                raise DownloadError(f"{url}: HTTP {err.code} {err.reason} (after {attempt + 1} tries)") from err
        except (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError, OSError,
                _NotWhole) as err:
            if attempt >= retries:
                raise DownloadError(f"{url}: download failed after {attempt + 1} tries: {err}; rerun to resume "
                                   f"from {part.stat().st_size if part.exists() else 0} bytes") from err
        attempt += 1
        time.sleep(backoff * 2 ** (attempt - 1))
    if reason is not None:
        raise _refused(url, dest, part, reason, sized, attempt)
    if check is not None:
        try:
            check(part)
        except ValueError as err:
            aside = _aside(part, dest)
            raise ValueError(f"{err}; nothing was recorded (the download is kept as {aside}): fetch again once it "
                             "is corrected") from None
    os.replace(part, dest)
    _since(part).unlink(missing_ok=True)
    verify(dest)
    return dest


def _get(url: str, part: Path, start: int, timeout: float, progress: bool, name: str) -> bool:
    """One GET of ``url`` into ``part`` from byte ``start``. True when the response said how long the body is (and
    it all came); False for a body that only the connection's close ends, which may have been cut anywhere."""
    since = _since(part)
    if start and not since.is_file():                 # a part of an unknown file (an older version's): fetched anew
        start = 0
    with _open(url, start, timeout, (since.read_text().strip() or None) if start else None) as resp:
        if start and resp.status != 206:           # Range ignored, or the file changed: the body is the whole file
            start = 0
        if not start:
            write_text(since, _validator(resp) or "")
        length = resp.headers.get("Content-Length")
        total = start + int(length) if length is not None else None
        with open(part, "ab" if start else "wb") as fh, tqdm(
                total=total, initial=start, unit="B", unit_scale=True, desc=name,
                disable=not progress, leave=False) as bar:
            for block in iter(lambda: resp.read(CHUNK), b""):
                fh.write(block)
                bar.update(len(block))
        if total is not None and part.stat().st_size < total:
            raise http.client.IncompleteRead(b"", total - part.stat().st_size)
    return total is not None


def _since(part: Path) -> Path:
    """Where the validator of the file a part began as is kept ("": the server gave none; absent: not known)."""
    return part.with_name(part.name + ".since")


def _range_total(err: urllib.error.HTTPError) -> Optional[int]:
    """The file's size from a 416's ``Content-Range: bytes */TOTAL`` (None when it does not say)."""
    m = re.fullmatch(r"\s*bytes\s+\*/(\d+)\s*", (err.headers or {}).get("Content-Range", "") or "")
    return int(m.group(1)) if m else None


def _aside(part: Path, dest: Path) -> Path:
    aside = dest.with_name(dest.name + ".bad")
    os.replace(part, aside)
    _since(part).unlink(missing_ok=True)
    return aside


def _refused(url: str, dest: Path, part: Path, reason: str, sized: bool, attempt: int) -> DownloadError:
    """A download that is not a whole archive, moved aside (kept for inspection), nothing recorded."""
    kind = next(s for s in ARCHIVES if dest.name.endswith(s))
    size = part.stat().st_size
    with open(part, "rb") as fh:
        head = fh.read(24).decode("latin-1")
    page = head and head.isascii() and all(c.isprintable() or c in "\r\n\t" for c in head)
    text = f" beginning {head!r}" if page else ""                   # a page instead: its first words say which
    aside = _aside(part, dest)
    how = "" if sized else (f" after {attempt + 1} tries (the server sent no Content-Length and each body ended "
                            "early)")
    return DownloadError(f"{url}: got {size} bytes{text}, not a whole {kind} archive ({reason}){how}; "
                         f"nothing was recorded for {dest}, the bytes are kept as {aside}. Check the mirror/URL (a "
                         "login page or another file may be served there), then fetch again.")


_COMPRESSED = {b"\x1f\x8b": lambda f: gzip.GzipFile(fileobj=f, mode="rb"), b"BZh": bz2.BZ2File,
               b"\xfd7zXZ\x00": lzma.LZMAFile}
_END = tarfile.NUL * tarfile.BLOCKSIZE


class _LastRead:
    """A stream that remembers its last read, where it began and what it gave: the block tarfile stopped at."""

    def __init__(self, fh):
        self.fh, self.at, self.last = fh, 0, b""

    def read(self, size: int = -1) -> bytes:
        self.at = self.fh.tell()
        self.last = self.fh.read(size)
        return self.last

    def seek(self, pos: int, whence: int = 0) -> int:
        return self.fh.seek(pos, whence)

    def tell(self) -> int:
        return self.fh.tell()


def _not_whole(path: Path, name: str) -> Optional[str]:
    """Why ``path`` (to be ``name``) is not a whole archive, or None: a zip's central directory and every member's
    CRC; a tar's members to its end-of-archive block and only zeros after, through its gzip/bz2/xz stream read to its
    end (whose CRC that checks). One streamed pass, nothing held in memory; on a new download only, never a rerun."""
    try:
        if name.endswith(".zip") or zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                bad = zf.testzip()
            return None if bad is None else f"member {bad!r} fails its CRC check"
        with open(path, "rb") as raw:
            magic = raw.read(6)
            raw.seek(0)
            opener = next((o for m, o in _COMPRESSED.items() if magic.startswith(m)), None)
            with (opener(raw) if opener else nullcontext(raw)) as stream:
                reads = _LastRead(stream)
                with tarfile.open(fileobj=reads, mode="r:") as tf:
                    for _ in tf:
                        pass
                    end = tf.offset
                if reads.at == end and len(reads.last) == tarfile.BLOCKSIZE and reads.last != _END:
                    return f"a damaged member header at byte {end} of the tar"
                if reads.at != end or reads.last != _END:
                    return f"the tar is cut at byte {reads.tell()}, before its end-of-archive block"
                read_to_end(stream)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error, lzma.LZMAError, OSError) as err:
        return " ".join(str(err).split()) or type(err).__name__
    return None
