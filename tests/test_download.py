"""Downloads taken as done only when whole, and list files whose lines are checked before anything is fetched, against
a real HTTP server on 127.0.0.1 (with the faults a real mirror or network shows)."""
import hashlib
import io
import json
import random
import re
import subprocess
import tarfile
import threading
from functools import partial
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from fixtures_data import LocalServer, RangeHandler
from pst.datasets.catalog import K400
from pst.datasets.download import RECORD, DownloadError, download
from pst.datasets.fetch import fetch

LOGIN = b"<html><body>Sign in to continue</body></html>"


class FaultHandler(RangeHandler):
    """RangeHandler with a fault per path: ``nolen_cut_once`` / ``nolen_cut`` answer 200 with no Content-Length and
    close the connection at half the body (the first time / every time, Range ignored); ``html`` answers 200 with a
    login page and its length."""

    def do_GET(self):
        fault = self.server.faults.get(self.path)
        if fault is None:
            return super().do_GET()
        self.server.requests.append((self.path, self.headers.get("Range")))
        if fault == "nolen_cut_once":
            del self.server.faults[self.path]
        self.send_response(200)
        if fault == "html":
            self.send_header("Content-Length", str(len(LOGIN)))
            self.end_headers()
            self.wfile.write(LOGIN)
            return
        self.end_headers()                                  # HTTP/1.0: the body ends where the connection closes
        data = Path(self.translate_path(self.path)).read_bytes()
        self.wfile.write(data[: len(data) // 2])


class FaultServer(LocalServer):
    def __init__(self, directory: Path, faults: dict = None):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(FaultHandler, directory=str(directory)))
        self.httpd.requests, self.httpd.cut_once, self.httpd.faults = [], set(), dict(faults or {})
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)


def tiny_tar(path: Path, seed: int = 0) -> bytes:
    """A real .tar.gz of incompressible bytes (so half of it is half the stream)."""
    member = path.parent / f".member{seed}"
    member.write_bytes(random.Random(seed).randbytes(40_000))
    with tarfile.open(path, "w:gz") as tf:
        tf.add(member, arcname=f"clip{seed}.mp4")
    member.unlink()
    return path.read_bytes()


def recorded(folder: Path) -> dict:
    return json.loads((folder / RECORD).read_text()) if (folder / RECORD).exists() else {}


def test_close_delimited_body_cut_short_is_resumed_not_recorded_half(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    data = tiny_tar(served / "part_0.tar.gz")
    dest = tmp_path / "dl" / "part_0.tar.gz"
    with FaultServer(served, {"/part_0.tar.gz": "nolen_cut_once"}) as srv:
        download(f"{srv.url}/part_0.tar.gz", dest, backoff=0.01, progress=False)
        ranges = [r for p, r in srv.httpd.requests if p == "/part_0.tar.gz"]
    assert dest.read_bytes() == data and ranges == [None, f"bytes={len(data) // 2}-"]   # resumed, not restarted
    assert recorded(dest.parent)["part_0.tar.gz"] == {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    assert not dest.with_name("part_0.tar.gz.part").exists()


@pytest.mark.parametrize("fault, tries, got", [("nolen_cut", 3, "Compressed file ended before the end-of-stream"),
                                               ("html", 1, "got 45 bytes beginning '<html><body>Sign in to c', not")])
def test_not_a_whole_archive_is_kept_aside_unrecorded_and_refetched_once_fixed(tmp_path, fault, tries, got):
    """Cut short every time (no length: retried, resuming), or a whole body that is no archive (a login page: no
    retry): refused naming URL and file, kept as NAME.bad, nothing recorded; the next fetch after the fix works."""
    served = tmp_path / "served"
    served.mkdir()
    data = tiny_tar(served / "part_0.tar.gz")
    dest = tmp_path / "dl" / "part_0.tar.gz"
    with FaultServer(served, {"/part_0.tar.gz": fault}) as srv:
        url = f"{srv.url}/part_0.tar.gz"
        with pytest.raises(DownloadError) as err:
            download(url, dest, retries=2, backoff=0.01, progress=False)
        assert len(srv.httpd.requests) == tries
        msg = str(err.value)
        assert msg.startswith(f"{url}: got ") and "not a whole .tar.gz archive" in msg and got in msg
        assert f"nothing was recorded for {dest}" in msg and f"kept as {dest}.bad" in msg
        assert "Check the mirror/URL" in msg and "fetch again" in msg and "\n" not in msg
        assert ("after 3 tries" in msg) == (fault == "nolen_cut")
        bad = dest.with_name("part_0.tar.gz.bad")
        assert bad.read_bytes() == (data[: len(data) // 2] if fault == "nolen_cut" else LOGIN)
        assert not dest.exists() and not dest.with_name("part_0.tar.gz.part").exists() and recorded(dest.parent) == {}
        srv.httpd.faults.clear()                                          # the mirror is fixed: fetch again
        download(url, dest, backoff=0.01, progress=False)
    assert dest.read_bytes() == data and recorded(dest.parent)["part_0.tar.gz"]["size"] == len(data)
    assert bad.exists()                                                   # kept for inspection


@pytest.mark.parametrize("extra", [5000, 0])
def test_stale_part_on_416_is_taken_only_when_its_size_is_the_files(tmp_path, extra):
    """A .part longer than the file (the file changed) is downloaded again from byte 0; one of the file's size is
    whole (416 Content-Range bytes */TOTAL) and is not fetched again. A part without the validator of the file it
    began as (an older version's) is fetched anew."""
    served = tmp_path / "served"
    served.mkdir()
    data = tiny_tar(served / "part_0.tar.gz")
    dest = tmp_path / "dl" / "part_0.tar.gz"
    dest.parent.mkdir()
    stale = data + random.Random(1).randbytes(extra)
    part = dest.with_name("part_0.tar.gz.part")
    part.write_bytes(stale)
    part.with_name(part.name + ".since").write_text(f'"{hashlib.sha256(data).hexdigest()[:16]}"')   # its ETag
    with LocalServer(served) as srv:
        download(f"{srv.url}/part_0.tar.gz", dest, backoff=0.01, progress=False)
        ranges = [r for _, r in srv.httpd.requests]
        assert dest.read_bytes() == data and recorded(dest.parent)["part_0.tar.gz"]["size"] == len(data)
        assert ranges == [f"bytes={len(stale)}-"] + ([None] if extra else [])
        dest.unlink()
        part.write_bytes(data[:1000])                                  # an older version's part: no validator
        download(f"{srv.url}/part_0.tar.gz", dest, backoff=0.01, progress=False)
        assert dest.read_bytes() == data and srv.httpd.requests[-1][1] is None       # fetched whole


def k400_served(served: Path, train_list: str) -> Path:
    """The K400 mirror's layout, small: annotations, path lists, one part archive a split."""
    base = served / "kinetics" / "400"
    (base / "annotations").mkdir(parents=True)
    for i, split in enumerate(("train", "val")):
        (base / "annotations" / f"{split}.csv").write_text("label,youtube_id,time_start,time_end,split\n")
        (base / split).mkdir()
        tiny_tar(base / split / "part_0.tar.gz", seed=i)
    (base / "val" / "k400_val_path.txt").write_text(f"{K400}/val/part_0.tar.gz\n")
    (base / "train" / "k400_train_path.txt").write_text(train_list)
    tiny_tar(served / "escaped.tar.gz", seed=9)                # where ../../../../escaped.tar.gz lands on the server
    return base


def tree(folder: Path) -> set:
    return {p for p in folder.rglob("*")}


@pytest.mark.parametrize("line, says", [
    (f"{K400}/train/../../../../escaped.tar.gz",
     "URL {line} would be written outside {raw}; a list may only name files below"),
    ("# K400 train", "'# K400 train' is not an archive URL (expected one http(s):// URL of a"),
    ("part_0.tar.gz", "'part_0.tar.gz' is not an archive URL (expected one http(s):// URL of a")])
def test_list_lines_are_checked_before_anything_is_fetched(tmp_path, line, says, env_with_venv):
    """A list line that is no archive URL, or whose file would land outside ROOT/raw, is refused naming list:line
    before any archive is fetched; nothing is written outside the root; the list is kept aside unrecorded, and the
    fetch after the list is fixed (CRLF and blank lines allowed) downloads everything."""
    served = tmp_path / "served"
    base = k400_served(served, f"{K400}/train/part_0.tar.gz\r\n\r\n  {line}  \r\n")
    outer = tmp_path / "a"
    root = outer / "b" / "k"
    raw = root / "raw"
    outer.mkdir()
    with LocalServer(served) as srv:
        mirror = f"{srv.url}/kinetics/400"
        with pytest.raises(ValueError) as err:
            fetch("kinetics400", root, mirror=mirror, retries=1, backoff=0.01, progress=False)
        listing = raw / "train" / "k400_train_path.txt"
        assert str(err.value).startswith(f"{listing}:3: {says.format(line=line, raw=raw)}")
        assert "correct the list at its source" in str(err.value) and f"kept as {listing}.bad" in str(err.value)
        assert not any("part_0" in p or "escaped" in p for p, _ in srv.httpd.requests)   # nothing from the list
        assert tree(outer) - tree(root) == {root.parent, root}                            # nothing outside the root
        assert not listing.exists() and recorded(raw / "train") == {}
        if line.startswith("#"):                                       # the command: one line, exit 2
            cli = subprocess.run(["pst", "data", "fetch", "kinetics400", "--root", str(root), "--mirror", mirror,
                                  "--quiet", "--retries", "1"], capture_output=True, text=True, env=env_with_venv)
            assert cli.returncode == 2 and cli.stderr.count("\n") == 1, cli.stderr
            assert f"{listing}:3: '# K400 train' is not an archive URL" in cli.stderr
        (base / "train" / "k400_train_path.txt").write_text(f"{K400}/train/part_0.tar.gz\r\n\r\n")   # fixed
        assert fetch("kinetics400", root, mirror=mirror, backoff=0.01, progress=False)["files"] == 6
    assert (raw / "train" / "part_0.tar.gz").read_bytes() == (base / "train" / "part_0.tar.gz").read_bytes()
    assert not (outer / "escaped.tar.gz").exists() and not (tmp_path / "escaped.tar.gz").exists()
    assert set(recorded(raw / "train")) == {"k400_train_path.txt", "part_0.tar.gz"}


def test_url_query_is_no_part_of_the_file_name(tmp_path):
    served = tmp_path / "served"
    base = k400_served(served, f"{K400}/train/part_0.tar.gz?X-Amz-Signature=abc#frag\n")
    root = tmp_path / "k"
    with LocalServer(served) as srv:
        fetch("kinetics400", root, mirror=f"{srv.url}/kinetics/400", backoff=0.01, progress=False)
        assert ("/kinetics/400/train/part_0.tar.gz?X-Amz-Signature=abc", None) in srv.httpd.requests   # sent as is
    train = root / "raw" / "train"
    assert sorted(p.name for p in train.iterdir()) == ["checksums.json", "k400_train_path.txt", "part_0.tar.gz"]
    assert (train / "part_0.tar.gz").read_bytes() == (base / "train" / "part_0.tar.gz").read_bytes()


@pytest.mark.parametrize("fault, says", [("html", "not a CSV with a header row (it begins '<html>"),
                                         ("nolen_cut_csv", "fields where its header has 6 (a transfer cut short?)"),
                                         ("nolen_cut", None)])
def test_an_annotation_file_that_is_no_annotation_file_is_not_recorded(tmp_path, fault, says):
    """A login page served as K400's train.csv, it or Diving48's JSON cut short with no length: refused before it is
    recorded (prepare's "fetch it again" then worked on nothing: the recorded file was only checked against itself)."""
    from fixtures_data import diving48_mirror, kinetics_mirror

    served = tmp_path / "served"
    if fault != "nolen_cut":
        kinetics_mirror(served, tmp_path / "work")
        path, name, mirror = "/kinetics/400/annotations/train.csv", "kinetics400", "kinetics/400"
    else:
        diving48_mirror(served, tmp_path / "work")
        path, name, mirror = "/resound/Diving48_V2_train.json", "diving48", "resound"
        says = "Diving48_V2_train.json: the download is not whole JSON"
    dest = tmp_path / "root" / "raw" / path.split("/", 2 if fault == "nolen_cut" else 3)[-1]
    with FaultServer(served, {path: fault.removesuffix("_csv")}) as srv:
        with pytest.raises(ValueError, match=re.escape(says)):
            fetch(name, tmp_path / "root", mirror=f"{srv.url}/{mirror}", retries=0, progress=False)
    assert dest.name not in recorded(dest.parent) and not dest.exists() and dest.with_name(dest.name + ".bad").exists()


def test_a_part_is_never_finished_from_a_file_changed_since(tmp_path):
    """A plain .tar cut at half, then changed on the server (same size): the resume names the file the part began as
    (If-Range), so the new file comes whole, not spliced onto the old half (a tar has no checksum to catch that)."""
    served = tmp_path / "served"
    served.mkdir()

    def plain_tar(seed: int) -> bytes:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tf:
            info = tarfile.TarInfo("clip.mp4")
            info.size = 40_000
            tf.addfile(info, io.BytesIO(random.Random(seed).randbytes(info.size)))
        return buf.getvalue()

    (served / "part_0.tar").write_bytes(plain_tar(0))
    dest = tmp_path / "dl" / "part_0.tar"
    with LocalServer(served) as srv:
        srv.httpd.cut_once.add("/part_0.tar")
        with pytest.raises(DownloadError, match="rerun to resume"):
            download(f"{srv.url}/part_0.tar", dest, retries=0, progress=False)
        new = plain_tar(1)
        (served / "part_0.tar").write_bytes(new)
        download(f"{srv.url}/part_0.tar", dest, retries=0, progress=False)
    assert dest.read_bytes() == new and not list(dest.parent.glob("*.part*"))
