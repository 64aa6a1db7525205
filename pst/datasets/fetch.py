"""`pst data fetch`: download a dataset's files into ROOT/raw, or say exactly which licence-gated files to place."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from pst.datasets.catalog import DatasetInfo, dataset_info
from pst.datasets.download import download
from pst.io import made_folder


class MissingFilesError(FileNotFoundError):
    """Licence-gated files that the user must place by hand."""


def missing_manual_files(info: DatasetInfo, raw: Path) -> list[str]:
    return [f for f in info.manual_files if not (raw / f.rstrip("/")).exists()
            or (f.endswith("/") and not any((raw / f).iterdir()))]


def check_fetched(info: DatasetInfo, raw: Path, name: str, root: Path) -> None:
    """Before prepare: every file fetch downloads directly is there (else: fetch first)."""
    missing = [raw / _relative(info, u) for u in info.urls if not (raw / _relative(info, u)).is_file()]
    if missing:
        raise ValueError(f"{missing[0]}: not fetched ({len(missing)} of {len(info.urls)} files missing); run "
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
    if info.base_url and url.startswith(info.base_url):
        return url[len(info.base_url):].lstrip("/")
    return url.rsplit("/", 1)[-1]


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
        files.append(download(_source(info, url, mirror), raw / _relative(info, url), retries, backoff,
                              progress=progress))
    for list_url in info.url_lists:
        listing = download(_source(info, list_url, mirror), raw / _relative(info, list_url), retries, backoff,
                           progress=progress)
        files.append(listing)
        for line in listing.read_text().splitlines():
            url = line.strip()
            if url:
                files.append(download(_source(info, url, mirror), raw / _relative(info, url), retries, backoff,
                                      progress=progress))
    return {"dataset": name, "files": len(files), "manual": False}
