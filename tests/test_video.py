"""Never train on a wrongly decoded frame: on real-format files with the faults real copies have (fixtures_video.py),
each checked against a front-to-back PyAV decode, `pst data validate` reads as the loader reads and refuses, in
one line, what a decoder gets wrong; the three decoders agree bit for bit where they are right; a cut WebM is
partial; `pst data prepare` writes upright constant-rate copies that read back, and refuses cut sources."""
import csv
import subprocess
from fractions import Fraction

import numpy as np
import pytest

from fixtures_video import corpus, cut
from pst.data.dataset import decode_video
from pst.data.video import fps_map, header, open_reader, reference_frames
from pst.datasets.preprocess import reencode
from pst.datasets.validate import check_video


def _torchcodec() -> bool:
    try:
        from torchcodec.decoders import VideoDecoder  # noqa: F401
        return True
    except (ImportError, RuntimeError, OSError):
        return False


DECODERS = ["decord", "pyav"] + (["torchcodec"] if _torchcodec() else [])


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return corpus(tmp_path_factory.mktemp("corpus"))


def _reference(path) -> np.ndarray:
    return np.stack([f for f, _, _ in reference_frames(path)])


def test_validate_reads_as_the_loader_reads_and_says_why(files, tmp_path, env_with_venv):
    expect = {   # file: what `validate` must say with the default decoder (decord); "" = ok
        "closed_gop": "", "avi_mpeg4": "", "vp9": "", "vp8": "", "rot90": "", "vfr": "", "yuv444_odd": "",
        "fullrange": "", "audio_short": "",
        "open_gop": "seek mismatch at frame 23 (decord", "avi_h264": "seek mismatch at frame",
        "avi_mpeg4_bf": "seek mismatch at frame", "width48": "decord cannot read frame",
        "vp9_cut30": "truncated at", "vp9_cut60": "truncated at", "vp9_cut90": "truncated at",
        "vp8_cut60": "truncated at", "mp4_cut60": "cannot open",
    }
    root = next(iter(files.values())).parent
    lst = tmp_path / "val.txt"
    lst.write_text("".join(f"{files[k].name} 0\n" for k in expect))
    (tmp_path / "classes.txt").write_text("a\n")
    run = subprocess.run(["pst", "data", "validate", str(root), str(lst), "--report", str(tmp_path / "report.csv"),
                          "--quiet"], capture_output=True, text=True, env=env_with_venv)
    assert run.returncode == 1, run.stderr                                   # problems found
    rows = {r["path"]: r for r in csv.DictReader(open(tmp_path / "report.csv"))}
    for name, reason in expect.items():
        row = rows[files[name].name]
        assert (row["verdict"] == "ok") == (reason == ""), (name, row)
        assert reason in row["reason"] and "\n" not in row["reason"], (name, row["reason"])
    cut = rows[files["vp9_cut60"].name]
    assert int(cut["frames_decoded"]) < int(cut["frames_claimed"]) == 60       # WebM stores no count: duration x rate
    bad = (tmp_path / "bad_videos.tsv").read_text().splitlines()[1:]
    assert len(bad) == sum(1 for r in expect.values() if r) and "9 bad" in run.stdout
    # what decord gets wrong by seeking, PyAV gets right: the same files pass when the recipe reads with it
    for name in ("open_gop", "avi_h264", "avi_mpeg4_bf", "width48"):
        assert check_video(files[name], ("pyav",)).ok, name


def test_the_torch_free_decoder_list_mirrors_the_readers():
    from pst.data import video
    from pst.engine import config

    assert config.DECODERS == video.DECODERS == tuple(video.READERS)


@pytest.mark.parametrize("decoder", ["decord", "pyav", pytest.param("torchcodec", marks=pytest.mark.skipif(
    not _torchcodec(), reason="torchcodec needs FFmpeg's shared libraries (make test installs Debian's as root)"))])
def test_decoders_agree_bit_for_bit_with_the_reference(files, decoder):
    for name in ("closed_gop", "avi_mpeg4", "vp9", "rot90", "rot270", "vfr", "yuv444_odd", "fullrange",
                 "audio_short"):
        ref = _reference(files[name])
        picks = sorted({0, 1, len(ref) // 3, len(ref) // 2, len(ref) - 2, len(ref) - 1})
        reader = open_reader(files[name], decoder)
        assert reader.num_frames == len(ref), (name, decoder)
        got = reader.get(picks).permute(0, 2, 3, 1).numpy()
        assert np.array_equal(got, ref[picks]), (name, decoder)            # rotation applied by all three


def test_pyav_is_exact_where_decord_seeks_wrong(files):
    for name in ("open_gop", "avi_h264", "avi_mpeg4_bf"):
        ref = _reference(files[name])
        picks = list(range(20, 30)) + [len(ref) - 2, len(ref) - 1]
        got = open_reader(files[name], "pyav").get(picks).permute(0, 2, 3, 1).numpy()
        assert np.array_equal(got, ref[picks]), name
        fresh = [open_reader(files[name], "decord").get([p])[0].permute(1, 2, 0).numpy() for p in (23, 25)]
        assert any(not np.array_equal(f, ref[p]) for f, p in zip(fresh, (23, 25))), name   # the fault is real


def test_a_cut_webm_is_partial_to_the_loader(files):
    full, partial = decode_video(files["vp9"]), decode_video(files["vp9_cut60"])
    assert full[1] is False and partial[1] is True and len(partial[0]) < len(full[0])
    assert header(files["vp9_cut60"]).frames == 60


def test_prepare_writes_upright_constant_rate_copies_and_refuses_cut_sources(files, tmp_path):
    # rotation: the copy is upright, as decord shows the source
    assert reencode(files["rot90"], tmp_path / "rot.mp4", 64) == "rotated 90 degrees (display matrix) to upright"
    upright = open_reader(files["rot90"], "decord").get([5])[0]
    copy = open_reader(tmp_path / "rot.mp4", "decord").get([5])[0]
    assert copy.shape[-2:] == (96, 64) == upright.shape[-2:]
    assert (copy.float() - upright.float()).abs().mean() < 8                    # lossy re-encode, same picture
    # variable frame rate: constant-rate output, each tick the frame FFmpeg's fps filter would take
    note = reencode(files["vfr"], tmp_path / "vfr.mp4", 48)
    assert note.startswith("variable frame rate: 60 frames to") and "dropped" in note
    head = header(tmp_path / "vfr.mp4")
    src = [t for _, t, _ in reference_frames(files["vfr"])]
    pick = fps_map(src, head.rate)
    out, ref = _reference(tmp_path / "vfr.mp4"), _reference(files["vfr"])
    assert len(out) == len(pick) == head.frames
    for k in (0, len(out) // 2, len(out) - 1):
        dist = [np.abs(out[k].astype(int) - r.astype(int)).mean() for r in ref]
        assert int(np.argmin(dist)) == pick[k], k
    # a cut download is refused, not re-encoded into a clean-looking short copy
    with pytest.raises(ValueError, match=r"truncated at \d\.\d\d of 5\.00 seconds"):
        reencode(files["vp9_cut60"], tmp_path / "cut.mp4", 48)
    assert not (tmp_path / "cut.mp4").exists()
    import av                                       # index first (faststart): the cut ends in a decoder error

    fast = tmp_path / "faststart.mp4"
    with av.open(str(files["closed_gop"])) as inp, av.open(str(fast), "w", format="mp4",
                                                          options={"movflags": "faststart"}) as out:
        stream = out.add_stream_from_template(inp.streams.video[0])
        for packet in inp.demux(inp.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    with pytest.raises(ValueError, match=r"truncated at 0\.\d\d of 2\.00 seconds \(\d+ frames decode, then Invalid"):
        reencode(cut(fast, tmp_path / "faststart_cut60.mp4", 0.6), tmp_path / "cut.mp4", 48)     # counted as cut
    assert check_video(tmp_path / "vfr.mp4", DECODERS).ok
    # a source smaller than any clip of the datasets is refused; one below the short side is upscaled, and said
    from fixtures_video import encode, render_frames, x264

    tiny = encode(tmp_path / "tiny.mp4", render_frames(8, 8, 12), options=x264())
    with pytest.raises(ValueError, match=r"12x8 pixels: too small to be a clip of the dataset"):
        reencode(tiny, tmp_path / "tiny_copy.mp4", 48)
    assert not (tmp_path / "tiny_copy.mp4").exists()
    assert reencode(files["rot90"], tmp_path / "up.mp4", 128) == ("rotated 90 degrees (display matrix) to upright; "
                                                                 "upscaled from a short side of 64 px")


def test_fps_map_is_ffmpegs_fps_filter():
    """Against libavfilter's own fps filter (PyAV's filter graph) on irregular times."""
    import av

    times_ms = [0, 31, 70, 95, 180, 190, 230, 233, 300, 401, 420]
    rate = Fraction(25)
    graph = av.filter.Graph()
    src = graph.add_buffer(width=16, height=16, format="gray", time_base=Fraction(1, 1000))
    fps = graph.add("fps", f"fps={rate}")
    sink = graph.add("buffersink")
    src.link_to(fps)
    fps.link_to(sink)
    graph.configure()
    shown = []
    for i, t in enumerate(times_ms + [None]):
        if t is not None:
            frame = av.VideoFrame.from_ndarray(np.full((16, 16), i * 10, np.uint8), format="gray")
            frame.pts, frame.time_base = t, Fraction(1, 1000)
            graph.push(frame)
        else:
            graph.push(None)
        while True:
            try:
                shown.append(int(graph.pull().to_ndarray()[0, 0]) // 10)
            except (av.error.BlockingIOError, av.error.EOFError):
                break
    ours = fps_map([t / 1000 for t in times_ms], rate, end=times_ms[-1] / 1000)   # frames of no stated length
    assert ours == shown
