"""`pst data fetch`: download a dataset's files into ROOT/raw, or say exactly which licence-gated files to place."""
from __future__ import annotations

import csv
import io
import json
import posixpath
from pathlib import Path
from typing import Optional
from urllib.parse import urlsplit

from pst.datasets.catalog import DatasetInfo, dataset_info
from pst.datasets.download import RECORD, download
from pst.datasets.extract import ARCHIVES, is_archive, marker
from pst.io import made_folder


class MissingFilesError(FileNotFoundError):
    """Licence-gated files that the user must place by hand."""


def missing_manual_files(info: DatasetInfo, raw: Path) -> list[str]:
    return [f for f in info.manual_files if not (raw / f.rstrip("/")).exists()
            or (f.endswith("/") and not any((raw / f).iterdir()))]


def check_fetched(info: DatasetInfo, raw: Path, name: str, root: Path) -> None:
    """Before prepare: every file fetch downloads is there, those its lists name included (else: fetch first; a
    failed archive's clips would otherwise be counted as lost to attrition), or for an archive, its extraction
    (ROOT/extracted/ as prepare lays it out)."""
    wanted = [raw / _relative(info, u) for u in (*info.urls, *info.url_lists)]
    for list_url in info.url_lists:
        listing = raw / _relative(info, list_url)
        if listing.is_file():
            wanted += [raw / _relative(info, u) for u in _fetched_list(info, listing, raw)]
    missing = [p for p in wanted if not p.is_file() and not (    # extracted, then removed to save its space
        is_archive(p.name) and marker(root / "extracted" / p.parent.relative_to(raw), p.name).is_file())]
    if missing:
        raise ValueError(f"{missing[0]}: not fetched ({len(missing)} of {len(wanted)} files missing); run "
                         f"`pst data fetch {name} --root {root}` first")


def check_manual_files(info: DatasetInfo, raw: Path) -> None:
    missing = missing_manual_files(info, raw)
    if missing:
        lines = "\n".join(f"  {raw / f}" for f in missing)
        raise MissingFilesError(
            f"{info.name} is distributed only after accepting its licence on the vendor's developer portal; "
            f"download it there and place these {len(missing)} missing file(s) exactly here:\n{lines}\n"
            f"then run `pst data prepare {info.name} --root {raw.parent}`.")


def _relative(info: DatasetInfo, url: str) -> str:
    """Where ``url`` goes under raw/: its path below the base URL (else its last part), normalised; from the URL's
    path only, never its query or fragment (a signed URL's ``?X-Amz-Signature=...``). '' when that path would be
    empty or leave raw/."""
    path = urlsplit(url).path
    if info.base_url and url.startswith(info.base_url):
        rel = path[len(urlsplit(info.base_url).path):]
    else:
        rel = path.rsplit("/", 1)[-1]
    rel = posixpath.normpath(rel.lstrip("/"))
    return "" if rel in (".", "..") or rel.startswith("../") else rel


def _listed(info: DatasetInfo, text: str, listing: Path, raw: Path) -> list[str]:
    """The archive URLs of a list file (one a line; blank lines and surrounding whitespace allowed), every line
    checked before any is downloaded."""
    urls = []
    for n, line in enumerate(text.splitlines(), 1):
        url = line.strip()
        if not url:
            continue
        parts = urlsplit(url)
        if not ((parts.scheme in ("http", "https") and parts.netloc or parts.scheme == "file")
                and is_archive(parts.path)):
            raise ValueError(f"{listing}:{n}: {url!r} is not an archive URL (expected one http(s):// URL of a "
                             f"{'/'.join(ARCHIVES)} file a line; blank lines are allowed); correct the list at its "
                             "source")
        if not _relative(info, url):
            raise ValueError(f"{listing}:{n}: URL {url} would be written outside {raw}; a list may only name files "
                             "below its dataset's folder; correct the list at its source")
        urls.append(url)
    return urls


def _source(info: DatasetInfo, url: str, mirror: Optional[str]) -> str:
    if mirror and info.base_url and url.startswith(info.base_url):
        return mirror.rstrip("/") + url[len(info.base_url):]
    return url


def fetch(name: str, root: str | Path, mirror: Optional[str] = None, retries: int = 5, backoff: float = 1.0,
          progress: bool = True) -> dict:
    """Download everything ``name`` needs into ROOT/raw (resumable, verified). Returns a summary."""
    info = dataset_info(name)
    if not str(root).strip():
        raise ValueError("--root: an empty path; name the dataset's folder (raw/ goes inside)")
    if mirror and not mirror.startswith(("http://", "https://", "file://")):
        raise ValueError(f"--mirror {mirror!r}: not a URL; give the mirror's base URL (http://host/path)")
    raw = Path(root) / "raw"
    if info.manual_files:                           # placed by hand: checked, nothing made
        check_manual_files(info, raw)
        return {"dataset": name, "files": len(info.manual_files), "downloaded": 0, "manual": True}
    with made_folder(raw):                          # a failed first download leaves no empty raw/ (nor its subfolders)
        return _download_all(info, name, raw, mirror, retries, backoff, progress)


def _download_all(info: DatasetInfo, name: str, raw: Path, mirror: Optional[str], retries: int, backoff: float,
                  progress: bool) -> dict:
    files = []
    for url in info.urls:
        dest = raw / _relative(info, url)
        files.append(download(_source(info, url, mirror), dest, retries, backoff, progress=progress,
                              check=lambda part, dest=dest: _annotation_file(part, dest)))
    for list_url in info.url_lists:
        dest = raw / _relative(info, list_url)
        listing = download(_source(info, list_url, mirror), dest, retries, backoff, progress=progress,
                           check=lambda part: _listed(info, _text(part), dest, raw))   # refused before recorded
        files.append(listing)
        for url in _fetched_list(info, listing, raw):
            files.append(download(_source(info, url, mirror), raw / _relative(info, url), retries, backoff,
                                  progress=progress))
    return {"dataset": name, "files": len(files), "manual": False}


def _fetched_list(info: DatasetInfo, listing: Path, raw: Path) -> list[str]:
    """The archive URLs of a list file on disk, checked (one recorded before lists were checked: with how to fetch
    it anew)."""
    try:
        return _listed(info, _text(listing), listing, raw)
    except ValueError as err:
        raise ValueError(f"{err}, then remove {listing} and its entry in {listing.parent / RECORD} and fetch "
                         "again") from None


def _annotation_file(part: Path, dest: Path) -> None:
    """A downloaded annotation file that reads as one before it is recorded: JSON that parses (a cut transfer with
    no length, a login page), a CSV whose first line is a header row, not a page, and whose rows are as wide as it."""
    text = _text(part)
    if dest.suffix == ".json":
        try:
            json.loads(text)
        except ValueError as err:
            raise ValueError(f"{dest}: the download is not whole JSON ({err}); check the mirror/URL") from None
    elif dest.suffix == ".csv":
        if "," not in text.partition("\n")[0] or text.lstrip().startswith("<"):
            raise ValueError(f"{dest}: the download is not a CSV with a header row (it begins {text[:40]!r}); check "
                             "the mirror/URL")
        rows = list(csv.reader(io.StringIO(text)))
        short = next((n for n, row in enumerate(rows[1:], 2) if row and len(row) != len(rows[0])), None)
        if short is not None:                       # a body with no length that the connection cut mid-row
            raise ValueError(f"{dest}: line {short} of the download has {len(rows[short - 1])} fields where its "
                             f"header has {len(rows[0])} (a transfer cut short?); check the mirror/URL")


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8-sig", errors="replace")      # a binary file: refused line by line
