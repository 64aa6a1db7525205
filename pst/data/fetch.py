"""`pst data fetch`: download a dataset's files into ROOT/raw, or say exactly which licence-gated files to place."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from pst.data.catalog import DatasetInfo, dataset_info
from pst.data.download import download


class MissingFilesError(FileNotFoundError):
    """Licence-gated files that the user must place by hand."""


def missing_manual_files(info: DatasetInfo, raw: Path) -> list[str]:
    return [f for f in info.manual_files if not (raw / f.rstrip("/")).exists()
            or (f.endswith("/") and not any((raw / f).iterdir()))]


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
    raw = Path(root) / "raw"
    if info.manual_files:                           # placed by hand: checked, nothing made
        check_manual_files(info, raw)
        return {"dataset": name, "files": len(info.manual_files), "downloaded": 0, "manual": True}
    raw.mkdir(parents=True, exist_ok=True)
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
