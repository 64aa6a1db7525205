"""HTTP downloads that survive a flaky network and never leave a half file where a whole one is expected.

- resume with HTTP Range from ``NAME.part``; a server that ignores Range restarts the file;
- retries with exponential back-off; a progress bar (tqdm);
- the finished file is renamed into place atomically;
- size and sha256 are recorded in ``checksums.json`` beside the file at the first download and verified on every
  later fetch; a mismatch stops with an error naming the file, which is moved aside (``NAME.bad``), never deleted.
"""
from __future__ import annotations

import http.client
import json
import os
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Optional

from tqdm import tqdm

from pst.io import made_folder, sha256sum, write_text

CHUNK = 1 << 20
RECORD = "checksums.json"


class ChecksumError(RuntimeError):
    """A file differs from the size/sha256 recorded at its first download."""


class DownloadError(RuntimeError):
    """A download that failed after its retries (the partial file stays for the next resume)."""


def _load_record(folder: Path) -> dict:
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
    record = _load_record(folder) if record is None else record
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


def _open(url: str, start: int, timeout: float):
    req = urllib.request.Request(url, headers={"User-Agent": "pst-fetch/1", **({"Range": f"bytes={start}-"}
                                                                                  if start else {})})
    return urllib.request.urlopen(req, timeout=timeout)


def download(url: str, dest: str | Path, retries: int = 5, backoff: float = 1.0, timeout: float = 60.0,
             progress: bool = True) -> Path:
    """Fetch ``url`` to ``dest`` (resuming, retrying, verified, atomic). An existing ``dest`` is verified only."""
    dest = Path(dest)
    if dest.exists():
        verify(dest)
        return dest
    with made_folder(dest.parent):
        return _fetch(url, dest, retries, backoff, timeout, progress)


def _fetch(url: str, dest: Path, retries: int, backoff: float, timeout: float, progress: bool) -> Path:
    part = dest.with_name(dest.name + ".part")
    attempt = 0
    while True:
        start = part.stat().st_size if part.exists() else 0
        try:
            with _open(url, start, timeout) as resp:
                if start and resp.status != 206:           # Range ignored: the body is the whole file
                    start = 0
                length = resp.headers.get("Content-Length")
                total = start + int(length) if length is not None else None
                with open(part, "ab" if start else "wb") as fh, tqdm(
                        total=total, initial=start, unit="B", unit_scale=True, desc=dest.name,
                        disable=not progress, leave=False) as bar:
                    for block in iter(lambda: resp.read(CHUNK), b""):
                        fh.write(block)
                        bar.update(len(block))
                if total is not None and part.stat().st_size < total:
                    raise http.client.IncompleteRead(b"", total - part.stat().st_size)
            break
        except urllib.error.HTTPError as err:
            if err.code == 416 and part.exists():            # nothing left to send: the part is whole
                break
            if err.code < 500 or attempt >= retries:
                raise DownloadError(f"{url}: HTTP {err.code} {err.reason} (after {attempt + 1} tries)") from err
        except (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError, OSError) as err:
            if attempt >= retries:
                raise DownloadError(f"{url}: download failed after {attempt + 1} tries: {err}; rerun to resume "
                                   f"from {part.stat().st_size if part.exists() else 0} bytes") from err
        attempt += 1
        time.sleep(backoff * 2 ** (attempt - 1))
    os.replace(part, dest)
    verify(dest)
    return dest
