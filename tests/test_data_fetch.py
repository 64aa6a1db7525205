"""Download, safe extraction, conversion and preparation against a real HTTP server on 127.0.0.1."""
import hashlib
import io
import json
import shutil
import subprocess
import tarfile

import pytest

from conftest import outlived
from fixtures_data import (LocalServer, diving48_mirror, kinetics_mirror, place_sthv1, place_sthv2, ss_classes,
                           tiny_video)
from pst.data.annotations import read_classes, read_list
from pst.data.dataset import read_video
from pst.datasets.catalog import SS_LEFT_RIGHT
from pst.datasets.download import ChecksumError, DownloadError, download
from pst.datasets.extract import UnsafeArchiveError, extract
from pst.datasets.fetch import MissingFilesError, fetch
from pst.datasets.preprocess import plan, prepare
from pst.io import FolderInUseError, locked


def test_kinetics_fetch_extract_convert_prepare(tmp_path):
    served = tmp_path / "served"
    facts = kinetics_mirror(served, tmp_path / "work")
    root = tmp_path / "k400"
    with LocalServer(served) as srv:
        summary = fetch("kinetics400", root, mirror=f"{srv.url}/kinetics/400", progress=False, backoff=0.01)
        assert summary["files"] == 6                                 # 2 csv + 2 path lists + 2 archives
        again = fetch("kinetics400", root, mirror=f"{srv.url}/kinetics/400", progress=False)   # verified, no GET
        assert again["files"] == 6
        assert not any("part_0" in p for p, _ in srv.httpd.requests[6:])
    record = json.loads((root / "raw" / "train" / "checksums.json").read_text())
    part = root / "raw" / "train" / "part_0.tar.gz"
    assert record["part_0.tar.gz"]["sha256"] == hashlib.sha256(part.read_bytes()).hexdigest()
    result = prepare("kinetics400", root, short_side=32, workers=2, progress=False)
    assert result["train_videos"] == facts["train"] and result["val_videos"] == facts["val"]
    assert result["val_missing"] == 1 and result["failed"] == 0
    proc = root / "processed"
    classes = read_classes(proc / "classes.txt")
    assert classes == sorted(["abseiling", "air drumming", "archery, indoor"])
    entries = read_list(proc / "train.txt")
    assert {e.label for e in entries} == {0, 1, 2}
    frames = read_video(proc / entries[0].path)
    assert min(frames.shape[-2:]) == 32 and frames.shape[0] == 10          # short side re-encoded, fps kept
    assert len((proc / "missing_val.txt").read_text().split()) == 1
    # resumable: a second run re-encodes nothing and gives the same lists
    before = (proc / "train.txt").read_bytes()
    mtime = (proc / entries[0].path).stat().st_mtime_ns
    prepare("kinetics400", root, short_side=32, progress=False)
    assert (proc / "train.txt").read_bytes() == before and (proc / entries[0].path).stat().st_mtime_ns == mtime


def test_diving48_end_to_end(tmp_path):
    served = tmp_path / "served"
    diving48_mirror(served, tmp_path / "work")
    root = tmp_path / "d48"
    with LocalServer(served) as srv:
        fetch("diving48", root, mirror=f"{srv.url}/resound", progress=False)
    s = prepare("diving48", root, short_side=32, progress=False)
    assert (s["train_videos"], s["val_videos"], s["classes"]) == (3, 1, 2)
    assert read_classes(root / "processed" / "classes.txt")[0] == "Back 15som 05Twis FREE"
    with pytest.raises(ValueError, match=r"re-encoded at short side 32 \(prepare.json\), not 64"):   # never two sizes
        prepare("diving48", root, short_side=64, progress=False)
    with pytest.raises(ValueError, match=r"re-encoded at key-frame interval None \(prepare.json\), not 4"):  # nor two
        prepare("diving48", root, short_side=32, keyint=4, progress=False)
    with pytest.raises(ValueError, match=r"--short-side 48: decord \(the loader's default decoder\) misreads"):
        prepare("diving48", tmp_path / "other", short_side=48, progress=False)       # before anything is read
    from pst.engine.bench import keyframes
    videos = sorted((root / "processed" / "videos").rglob("*.mp4"))
    shutil.rmtree(root / "processed")             # the same copy at a key frame every 4 frames (prepare --keyint)
    assert prepare("diving48", root, short_side=32, keyint=4, progress=False)["keyint"] == 4
    keys = keyframes(videos[0])
    assert keys[0] == 0 and max(b - a for a, b in zip(keys, keys[1:])) <= 4 and len(keys) > 1
    split = served / "resound" / "Diving48_V2_test.json"                 # a label outside the 2 classes
    split.write_text(json.dumps([{"vid_name": "clip3", "label": 99, "start_frame": 0, "end_frame": 9}]))
    with LocalServer(served) as srv:
        fetch("diving48", tmp_path / "bad", mirror=f"{srv.url}/resound", progress=False)
    with pytest.raises(ValueError, match="has label 99, outside the 2 classes"):
        prepare("diving48", tmp_path / "bad", short_side=32, progress=False)
    assert not (tmp_path / "bad" / "processed").exists()
    assert not (tmp_path / "bad" / "extracted").exists()        # the annotations are read before extracting
    split.write_text(json.dumps([{"vid_name": "clip 3", "label": 1, "start_frame": 0, "end_frame": 9}]))
    with LocalServer(served) as srv:                            # a name no list line can hold (trial 12)
        fetch("diving48", tmp_path / "spaced", mirror=f"{srv.url}/resound", progress=False)
    with pytest.raises(ValueError, match=r"diving48 val: clip '.*clip 3.*' has a space in its name"):
        prepare("diving48", tmp_path / "spaced", short_side=32, progress=False)
    assert not (tmp_path / "spaced" / "extracted").exists()


def test_sthv2_placed_parts_are_joined_and_converted(tmp_path):
    root = tmp_path / "ss2"
    place_sthv2(root / "raw", tmp_path / "work")
    assert fetch("sthv2", root, progress=False)["manual"] is True
    parts = sorted((root / "raw").glob("20bn-something-something-v2-??"))
    whole = max(parts, key=lambda p: p.stat().st_size)
    data = whole.read_bytes()
    for damaged in (data[:len(data) // 2], b""):          # a cut part, an empty one: one line, nothing extracted
        whole.write_bytes(damaged)
        with pytest.raises(ValueError, match="not a readable tar or zip archive.*fetch it again|-00: an empty part"):
            prepare("sthv2", root, short_side=32, progress=False)
        assert not (root / "extracted").exists() and not (root / "processed").exists()
    whole.write_bytes(data)
    s = prepare("sthv2", root, short_side=32, progress=False)
    assert (s["train_videos"], s["val_videos"]) == (2, 1)
    entries = read_list(root / "processed" / "train.txt")
    classes = read_classes(root / "processed" / "classes.txt")
    assert [classes[e.label] for e in entries] == ["Pushing something from left to right", "Holding something"]
    assert [e.label for e in entries] == [93, 16] and entries[0].path.endswith(".mp4")     # the labels file's ids


def test_sthv1_frame_folders_numbered_as_the_official_lists(tmp_path):
    """SSv1's labels file lists its classes unsorted; the official lists (TSM's gen_label_sthv1.py) number them
    sorted by name, which puts the left/right classes at the official config's 86, 87, 93, 94, 166, 167."""
    root = tmp_path / "ss1"
    place_sthv1(root / "raw")
    s = prepare("sthv1", root, progress=False)
    assert (s["train_videos"], s["val_videos"]) == (2, 1)
    entries = read_list(root / "processed" / "train.txt", modality="frames")
    classes = read_classes(root / "processed" / "classes.txt")
    assert entries[0].num_frames == 6 and [e.label for e in entries] == [16, 93]
    assert classes == sorted(ss_classes()) != ss_classes()
    assert [classes.index(c) for c in SS_LEFT_RIGHT] == [86, 87, 93, 94, 166, 167]


@pytest.mark.parametrize("name, some_file", [("sthv2", "20bn-something-something-v2-07"),
                                             ("sthv1", "something-something-v1-train.csv")])
def test_missing_licence_files_are_listed(tmp_path, name, some_file, env_with_venv):
    root = tmp_path / name
    with pytest.raises(MissingFilesError) as err:
        fetch(name, root, progress=False)
    assert str(root / "raw" / some_file) in str(err.value)
    cli = subprocess.run(["pst", "data", "fetch", name, "--root", str(root)], capture_output=True, text=True,
                         env=env_with_venv)
    assert cli.returncode == 2 and some_file in cli.stderr and "licence" in cli.stderr
    assert not root.exists()                                 # refused: no empty raw/ left to puzzle over


def test_cut_transfer_resumes_with_range(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    payload = bytes(range(256)) * 4096
    (served / "big.bin").write_bytes(payload)
    with LocalServer(served) as srv:
        srv.httpd.cut_once.add("/big.bin")
        out = download(f"{srv.url}/big.bin", tmp_path / "dl" / "big.bin", backoff=0.01, progress=False)
        ranges = [r for p, r in srv.httpd.requests if p == "/big.bin"]
    assert out.read_bytes() == payload
    assert ranges[0] is None and ranges[1] == f"bytes={len(payload) // 2}-"
    assert not (tmp_path / "dl" / "big.bin.part").exists()


def test_flipped_byte_gives_checksum_error_and_file_kept_aside(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    (served / "a.bin").write_bytes(b"x" * 10000)
    dest = tmp_path / "dl" / "a.bin"
    with LocalServer(served) as srv:
        download(f"{srv.url}/a.bin", dest, progress=False)
        data = bytearray(dest.read_bytes())
        data[1234] ^= 0xFF
        dest.write_bytes(bytes(data))
        with pytest.raises(ChecksumError, match="a.bin"):
            download(f"{srv.url}/a.bin", dest, progress=False)
        assert not dest.exists() and (tmp_path / "dl" / "a.bin.bad").read_bytes() == bytes(data)
        # the source changed after the first download: the new file is refused, not silently accepted
        (served / "a.bin").write_bytes(b"y" * 10000)
        with pytest.raises(ChecksumError):
            download(f"{srv.url}/a.bin", dest, progress=False)


def test_unreachable_and_missing_urls(tmp_path):
    with LocalServer(tmp_path) as srv:
        with pytest.raises(DownloadError, match="404"):
            download(f"{srv.url}/nope.bin", tmp_path / "x.bin", progress=False)
    with pytest.raises(DownloadError, match="tries"):
        download("http://127.0.0.1:9/none", tmp_path / "y.bin", retries=1, backoff=0.01, progress=False)
    with pytest.raises(DownloadError, match="tries"):     # a fetch that got nothing leaves no empty folders
        fetch("diving48", tmp_path / "d48", mirror="http://127.0.0.1:9", retries=1, backoff=0.01, progress=False)
    assert not (tmp_path / "d48").exists()
    (tmp_path / "k400").mkdir()                            # the user's folder stays; raw/annotations/ does not
    with pytest.raises(DownloadError, match="tries"):
        fetch("kinetics400", tmp_path / "k400", mirror="http://127.0.0.1:9", retries=0, progress=False)
    assert (tmp_path / "k400").is_dir() and not any((tmp_path / "k400").iterdir())


def _tar_with(path, member: tarfile.TarInfo, data: bytes = b""):
    with tarfile.open(path, "w") as tf:
        ok = tarfile.TarInfo("fine.txt")
        ok.size = 2
        tf.addfile(ok, io.BytesIO(b"ok"))
        member.size = len(data) if member.isfile() else 0
        tf.addfile(member, io.BytesIO(data) if member.isfile() else None)
    return path


def _link(name, target, kind=tarfile.SYMTYPE):
    m = tarfile.TarInfo(name)
    m.type, m.linkname = kind, target
    return m


def _dev(name):
    m = tarfile.TarInfo(name)
    m.type, m.devmajor, m.devminor = tarfile.CHRTYPE, 1, 3
    return m


@pytest.mark.parametrize("member", [tarfile.TarInfo("../evil"), tarfile.TarInfo("/tmp/evil-abs"),
                                    tarfile.TarInfo("a/../../evil"), _link("lnk", "../../outside"),
                                    _link("lnk", "/etc/passwd"), _link("hard", "../evil", tarfile.LNKTYPE),
                                    _dev("dev")])
def test_unsafe_tar_refused_and_nothing_written(tmp_path, member):
    archive = _tar_with(tmp_path / "bad.tar", member, b"evil" if member.isfile() else b"")
    target = tmp_path / "out" / "inner"
    before = set(p for p in tmp_path.rglob("*"))
    with pytest.raises(UnsafeArchiveError, match="refused"):
        extract(archive, target)
    after = set(p for p in tmp_path.rglob("*"))
    assert after - before <= {tmp_path / "out", target}
    assert not (tmp_path / "evil").exists() and not (tmp_path / "out" / "evil").exists()


def test_validate_reports_bad_videos_without_crashing(tmp_path, env_with_venv):
    good = tiny_video(tmp_path / "good.mp4")
    data = good.read_bytes()
    (tmp_path / "trunc.mp4").write_bytes(data[: len(data) // 2])
    (tmp_path / "zero.mp4").write_bytes(b"")
    (tmp_path / "list.txt").write_text("good.mp4 0\ntrunc.mp4 1\nzero.mp4 1\n")
    run = subprocess.run(["pst", "data", "validate", str(tmp_path), str(tmp_path / "list.txt"), "--quiet"],
                         capture_output=True, text=True, env=env_with_venv)
    assert run.returncode == 1, run.stderr                               # bad videos found: 1 (refused input: 2)
    assert "3 videos" in run.stdout and "1 ok, 2 bad" in run.stdout
    rows = (tmp_path / "bad_videos.tsv").read_text().splitlines()
    assert rows[0] == "path\treason" and {r.split("\t")[0] for r in rows[1:]} == {"trunc.mp4", "zero.mp4"}


def test_malformed_list_names_file_and_line(tmp_path):
    (tmp_path / "l.txt").write_text("a.mp4 1\nb.mp4 one\n")
    with pytest.raises(ValueError, match=r"l.txt:2"):
        read_list(tmp_path / "l.txt")


def test_scattered_prepare_and_validate_write_the_bytes_one_job_writes(tmp_path):
    """K400 at scale scatters over cluster jobs (#29): plan, 3 re-encoding shards (run out of order), gather; then
    validation in 3 shards and a gather. Every file is the one job's, byte for byte; the gather waits for no shard
    at work and removes what a killed one left half-written."""
    from pst.datasets import preprocess
    from pst.datasets.validate import gather, validate

    served = tmp_path / "served"
    diving48_mirror(served, tmp_path / "work")
    roots = {form: tmp_path / form for form in ("one", "scattered")}
    with LocalServer(served) as srv:
        for root in roots.values():
            fetch("diving48", root, mirror=f"{srv.url}/resound", progress=False)
    one = prepare("diving48", roots["one"], short_side=32, progress=False)
    root = roots["scattered"]
    preprocess.plan("diving48", root, short_side=32)
    with pytest.raises(ValueError, match=r"shard 0 of 3 has not run; run .*--shard 0/3"):
        preprocess.gather(root, 3)
    preprocess.reencode_shard(root, 2, 3, progress=False)
    with pytest.raises(ValueError, match=r"re-encoded at short side 32 \(plan.json\), not 64"):   # trial 12: a new
        preprocess.plan("diving48", root, short_side=64)       # plan at another size beside a shard's videos
    for i in (0, 1):
        preprocess.reencode_shard(root, i, 3, progress=False)
    killed = root / "processed" / "videos" / ".clip.mp4.4242.x1.tmp"        # a re-encode SIGKILLed mid-write
    killed.write_bytes(b"half")
    with locked(root / "processed", "a shard", shared=True):               # gathered when no shard is at work
        with pytest.raises(FolderInUseError, match=r"processed is in use by a reader \(an evaluation of a run, a "
                                                   r"shard re-encoding"):
            preprocess.gather(root, 3)
    assert preprocess.gather(root, 3) == one and not killed.exists()

    def files(r):
        proc = r / "processed"
        return {str(p.relative_to(proc)): p.read_bytes() for p in proc.rglob("*")
                if p.is_file() and "shards" not in p.parts}
    assert files(root) == files(roots["one"])
    proc = root / "processed"
    (proc / read_list(proc / "train.txt")[1].path).write_bytes(b"not a video")   # a bad video to order
    validate(proc, proc / "train.txt", out=tmp_path / "whole.tsv", progress=False)
    parts = [tmp_path / f"part{i}.tsv" for i in range(3)]
    for i, part in enumerate(parts):
        validate(proc, proc / "train.txt", out=part, progress=False, shard=(i, 3))
    bad_in = next(p for p in parts if p.read_text().count("\n") == 3)      # header, the bad video, its shard line
    with pytest.raises(ValueError, match="not each of 0/N .. N-1/N once: a shard's bad videos would be lost"):
        gather(proc / "train.txt", [p for p in parts if p != bad_in], tmp_path / "gathered.tsv")
    gather(proc / "train.txt", parts[::-1], tmp_path / "gathered.tsv")
    assert (tmp_path / "gathered.tsv").read_bytes() == (tmp_path / "whole.tsv").read_bytes()
    assert (tmp_path / "whole.tsv").read_text().count("\n") == 2


def test_a_rerun_redoes_what_changed_and_a_damaged_or_incomplete_copy_is_refused(tmp_path):
    """Trial 8 (#26): a rerun with nothing to do keeps the notes it recorded, and so does one after the archive was
    removed to save space; an archive replaced since is extracted again and its changed clip re-encoded, the others
    kept; a split none of whose clips is in the copy, whose file names no clip (or whose class file names no class),
    or none of whose videos re-encodes, a middle part of a split archive left empty or cut, a gzip CRC that fails and
    an empty K400 label are refused in one line naming the file; a .tgz is extracted like a .tar.gz; a refused
    extraction leaves no folder; a CSV with a byte-order mark is read."""
    from fixtures_data import make_tar, tiny_video
    from fixtures_video import encode, render_frames, x264

    served, work = tmp_path / "served", tmp_path / "work"
    diving48_mirror(served, work)
    vids = {f"rgb/clip{i}.mp4": work / f"dv{i}.mp4" for i in range(4)}
    vids["rgb/clip0.mp4"] = encode(work / "rot.mp4", render_frames(10, 32, 48), options=x264(), rotation=90)
    make_tar(served / "resound" / "Diving48_rgb.tar.gz", vids)
    root = tmp_path / "d48"
    with LocalServer(served) as srv:
        fetch("diving48", root, mirror=f"{srv.url}/resound", progress=False)
    proc = root / "processed"
    first = prepare("diving48", root, short_side=32, progress=False)
    notes = (proc / "preprocess_notes.tsv").read_text()
    assert first["rotated"] == 1 and "rotated 90 degrees" in notes
    assert prepare("diving48", root, short_side=32, progress=False) == first          # nothing to do: kept
    assert (proc / "preprocess_notes.tsv").read_text() == notes
    (root / "raw" / "Diving48_rgb.tar.gz").unlink()                # removed after extraction, to save its space
    assert prepare("diving48", root, short_side=32, progress=False) == first
    copies = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in (proc / "videos").rglob("*.mp4")}
    make_tar(root / "raw" / "Diving48_rgb.tar.gz", {**vids, "rgb/clip1.mp4": tiny_video(work / "new.mp4", 1, seed=9)})
    assert prepare("diving48", root, short_side=32, progress=False) == first
    again = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in (proc / "videos").rglob("*.mp4")}
    assert [n for n in sorted(copies) if again[n] != copies[n]] == ["clip1.mp4"]      # only the replaced clip
    assert first["train_listed_twice"] == first["val_listed_twice"] == first["val_also_in_train"] == 0
    ann = {s: root / "raw" / f"Diving48_V2_{s}.json" for s in ("train", "test")}
    kept = {s: f.read_bytes() for s, f in ann.items()}         # a test clip named twice, and one also trained on:
    ann["test"].write_text(json.dumps(json.loads(kept["test"]) * 2 + json.loads(kept["train"])[:1]))   # counted,
    assert plan("diving48", root, short_side=32)["repeats"] == {                           # the lists as shipped
        "train_listed_twice": 0, "val_listed_twice": 1, "val_also_in_train": 1}
    assert prepare("diving48", root, short_side=32, progress=False)["rotated"] == 1      # another plan: the copies
    assert (proc / "preprocess_notes.tsv").read_text() == notes                           # it keeps keep their notes
    ann["test"].write_bytes(kept["test"])
    (work / "text.mp4").write_text("not a video")
    make_tar(root / "raw" / "Diving48_rgb.tar.gz", {**vids, "rgb/clip3.mp4": work / "text.mp4"})
    with pytest.raises(ValueError, match=r"diving48 val: none of its 1 videos could be re-encoded \(each refused"):
        prepare("diving48", root, short_side=32, progress=False)      # a list of no video is not written
    test_json = json.loads((root / "raw" / "Diving48_V2_test.json").read_text())
    (root / "raw" / "Diving48_V2_test.json").write_text(json.dumps(test_json * 2))    # a clip named twice: one
    with pytest.raises(ValueError, match=r"diving48 val: none of its 2 videos could be re-encoded"):  # job, one
        prepare("diving48", root, short_side=32, progress=False)                                     # failure
    refused = (proc / "preprocess_failures.tsv").read_text().splitlines()[1:]
    assert len(refused) == 1 and refused[0].split("\t")[0].endswith("rgb/clip3.mp4"), refused
    (root / "raw" / "Diving48_V2_test.json").write_text(json.dumps(
        [{"vid_name": "clip3", "label": 1.7, "start_frame": 0, "end_frame": 9}]))       # not read as class 1
    with pytest.raises(ValueError, match=r"Diving48_V2_test.json: item 0 \(clip3\): label 1.7 is not a class index.*"
                                         r"recorded when fetched: first remove it and its entry in .*checksums.json"):
        prepare("diving48", root, short_side=32, progress=False)
    (root / "raw" / "Diving48_V2_test.json").write_text("\ufeff" + json.dumps(        # (a byte-order mark: read)
        [{"vid_name": "clip3.mp4", "label": 1, "start_frame": 0, "end_frame": 9}]))     # names no clip of the copy
    with pytest.raises(ValueError, match=r"diving48 val: none of the 1 clips its annotations name is in this copy"):
        prepare("diving48", root, short_side=32, progress=False)
    (root / "raw" / "Diving48_V2_test.json").write_text("[]")       # names no clip at all: the file is named
    with pytest.raises(ValueError, match=r"Diving48_V2_test.json: names no clip; .*first remove it and its entry"):
        prepare("diving48", root, short_side=32, progress=False)
    (root / "raw" / "Diving48_vocab.json").write_text("[]")         # names no class: the class file is named
    with pytest.raises(ValueError, match=r"Diving48_vocab.json: names no class; .*first remove it and its entry"):
        prepare("diving48", root, short_side=32, progress=False)

    from pst.datasets.extract import extract_parts

    blob = io.BytesIO()                      # a split tar whose middle part is empty (a failed download of one part)
    with tarfile.open(fileobj=blob, mode="w") as tf:
        for i in range(3):
            info = tarfile.TarInfo(f"20bn/{i}.webm")
            info.size = 3000
            tf.addfile(info, io.BytesIO(bytes([i + 1]) * info.size))
    parts = [tmp_path / f"ss2-{i:02d}" for i in range(6)]
    for i, part in enumerate(parts):
        part.write_bytes(blob.getvalue()[i * 4000:(i + 1) * 4000])
    parts[1].write_bytes(b"")
    with pytest.raises(ValueError, match="ss2-01: an empty part of a split archive"):
        extract_parts(parts, tmp_path / "ss2", "ss2")
    parts[1].write_bytes(blob.getvalue()[4000:6000])                 # cut: the next header falls inside a member
    with pytest.raises(ValueError, match=r"ss2-00..05: not a readable tar or zip archive \(data follows where the "
                                         "archive would end"):
        extract_parts(parts, tmp_path / "ss2", "ss2")              # tarfile alone stopped quietly after member 1
    assert not (tmp_path / "ss2").exists()

    kinetics_mirror(served, work)
    k400 = tmp_path / "k400"
    with LocalServer(served) as srv:
        fetch("kinetics400", k400, mirror=f"{srv.url}/kinetics/400", progress=False)
    archive = k400 / "raw" / "train" / "part_0.tar.gz"
    data = archive.read_bytes()
    for damaged, why in ((data[:len(data) // 2], ""), (data[:-8] + bytes([data[-8] ^ 1]) + data[-7:], "CRC check")):
        archive.write_bytes(damaged)                                   # cut; its gzip CRC wrong
        with pytest.raises(ValueError, match=f"part_0.tar.gz: not a readable tar or zip archive \\({why}"):
            prepare("kinetics400", k400, short_side=32, progress=False)
        assert not (k400 / "extracted").exists()
    csv_path = k400 / "raw" / "annotations" / "train.csv"
    good = csv_path.read_text()
    csv_path.write_text(good.replace("\nabseiling,", "\n,", 1))
    with pytest.raises(ValueError, match=r"train.csv:2: an empty label"):
        prepare("kinetics400", k400, short_side=32, progress=False)
    csv_path.write_text("\ufeff" + good)                  # a byte-order mark (saved by a spreadsheet) is read past
    archive.unlink()
    with pytest.raises(ValueError, match=r"raw/train/part_0.tar.gz: not fetched \(1 of 6 files missing\)"):
        prepare("kinetics400", k400, short_side=32, progress=False)      # its clips are not attrition
    listing = k400 / "raw" / "train" / "k400_train_path.txt"
    listing.write_text(listing.read_text().replace(".tar.gz", ".tgz"))
    archive.with_name("part_0.tgz").write_bytes(data)
    assert prepare("kinetics400", k400, short_side=32, progress=False)["train_videos"] == 4


def test_a_killed_prepare_leaves_no_worker_writing(tmp_path, env_with_venv):
    """SIGKILL of `prepare --shard --workers 2` (a preempted cluster job): its pool's workers end with it, not go
    on re-encoding into processed/ after the lock is gone (trial 8w: they wrote for 80 s and never exited)."""
    import signal
    import time

    diving48_mirror(tmp_path / "served", tmp_path / "work", train=80, test=2)
    root = tmp_path / "root"
    with LocalServer(tmp_path / "served") as srv:
        fetch("diving48", root, mirror=f"{srv.url}/resound", progress=False)
    subprocess.run(["pst", "data", "prepare", "diving48", "--root", str(root), "--plan", "--short-side", "32"],
                   env=env_with_venv, check=True, capture_output=True)
    job = subprocess.Popen(["pst", "data", "prepare", "diving48", "--root", str(root), "--shard", "0/1", "--workers",
                            "2", "--quiet"], env=env_with_venv, stderr=subprocess.DEVNULL, start_new_session=True)
    videos = root / "processed" / "videos"
    while not (videos.is_dir() and any(videos.rglob("*.mp4"))):      # re-encoding is under way
        time.sleep(0.05)
    job.send_signal(signal.SIGKILL)
    job.wait()

    assert not outlived(job)                                          # its forkserver and workers


def test_two_different_videos_of_one_name_are_refused_and_a_long_name_is_written(tmp_path):
    """Trial 12: an archive holding two videos named clip0.mp4 in two folders gave whichever the file system listed
    first; a legal 244-character name failed, its temporary file's name being over 255."""
    from pst.datasets.convert import index_files
    from pst.io import write_text

    for folder, data in (("a_old", b"one"), ("rgb", b"one")):
        (tmp_path / "same" / folder).mkdir(parents=True)
        (tmp_path / "same" / folder / "clip0.mp4").write_bytes(data)
    assert index_files(tmp_path / "same", (".mp4",)) == {"clip0.mp4": "a_old/clip0.mp4"}     # the same bytes: one
    (tmp_path / "same" / "rgb" / "clip0.mp4").write_bytes(b"two")
    with pytest.raises(ValueError, match=r"two different videos named clip0.mp4 \(a_old/clip0.mp4, rgb/clip0.mp4\)"):
        index_files(tmp_path / "same", (".mp4",))
    long = tmp_path / ("v" * 240 + ".mp4")
    write_text(long, "x")
    assert long.read_text() == "x" and sorted(p.name for p in tmp_path.iterdir()) == sorted(["same", long.name])
