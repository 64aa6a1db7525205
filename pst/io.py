"""Atomic file writes: a temp file in the target's folder, fsync, then rename, so no reader sees half a file; the
SHA-256 a file is recorded and checked by; the JSON records one step hands the next, read with their shape checked;
the check that an output never overwrites an input or a user's file; and the one-writer lock of a folder."""
from __future__ import annotations

import errno
import fcntl
import glob
import hashlib
import json
import os
import re
import signal
import socket
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional, Union

PathLike = Union[str, os.PathLike]


@contextmanager
def atomic_path(path: PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; it replaces ``path`` only if the block finishes without error."""
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(target.name), suffix=".tmp", dir=target.parent)
    except OSError as err:                  # named by the file the user asked for, not our temporary one
        raise OSError(err.errno, f"{err.strerror}; choose a writable folder", str(target)) from None
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~umask)      # mkstemp makes 0600 (and a writer may make the file anew, as safetensors
        with open(tmp, "rb+") as fh:       # does): a result file gets the usual permissions
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except Exception as err:
        named = write_error(err, target, tmp)
        if named is err:
            raise
        raise named from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


_TEMP_NAME = 150        # characters of the target's name a temporary file's name keeps (255 at most in all)


def _temp_prefix(name: str) -> str:
    """The start of a temporary file's name: the target's, cut so that a legal long name stays legal with the pid
    and mkstemp's letters added, and the writer's pid."""
    return f".{name[:_TEMP_NAME]}.{os.getpid()}."


def remove_stale_temps(folder: Path) -> None:
    """The temporary files (atomic_path's, named after their writer's pid) left under ``folder`` by a writer killed
    mid-write (SIGKILL: no handler ran). For the folder's one writer, under its exclusive lock (``locked``): no
    other writer can be at work there, on this node or another, so none of them is in use."""
    if Path(folder).is_dir():
        for tmp in Path(folder).rglob(".*.tmp"):
            if f".{os.getpid()}." not in tmp.name:
                tmp.unlink(missing_ok=True)


FULL = 1 << 20          # free bytes below which a failed write is put down to a full disk


def write_error(err: Exception, target: Path, tmp: str | None = None) -> Exception:
    """A write that failed, named by the file the user asked for: an OS error on our temporary file (or none
    named), a full disk whichever file the error names (a copy names its source), or a writer's own error
    (torch's zip writer raises RuntimeError, safetensors its SafetensorError) on a disk that is full; anything
    else (a check inside the block) is left as it was."""
    import shutil

    ours = isinstance(err, OSError) and (err.filename in (None, tmp, str(tmp)) or err.errno in (errno.ENOSPC,
                                                                                               errno.EDQUOT))
    writer = isinstance(err, RuntimeError) or type(err).__name__ == "SafetensorError"
    try:
        full = writer and shutil.disk_usage(target.parent).free < FULL
    except OSError:
        full = False
    if (ours and err.errno in (errno.ENOSPC, errno.EDQUOT)) or full:
        return OSError(errno.ENOSPC, "no space left on its disk; free space there, or choose another output",
                       str(target))
    if ours:
        return OSError(err.errno, err.strerror or str(err), str(target))
    return err


@contextmanager
def made_folder(path: PathLike) -> Iterator[Path]:
    """Make ``path`` (and its missing parents); if the block fails, remove those of them it made that are still empty,
    so a refused or failed command leaves no empty folder behind (a partly written one is kept, to resume)."""
    folder = Path(path)
    made = [p for p in (folder, *folder.parents) if not p.exists()]      # deepest first
    folder.mkdir(parents=True, exist_ok=True)
    try:
        yield folder
    except BaseException:
        for p in made:
            try:
                if p.is_dir() and not any(p.iterdir()):
                    p.rmdir()
            except OSError:                 # filled meanwhile by another command (a sibling run): theirs now
                break
        raise


def write_text(path: PathLike, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1}    # what a command stops on


def replace_together(files: dict) -> list[Path]:
    """Several files of one artifact ({path: write(tmp)}): every one is written to its temporary file first, and
    only when all are written do they replace their targets, in the order given, with the stop signals held back
    until the last is in place. A full disk, or a signal while writing or replacing, leaves the earlier version
    whole, never some new files beside old ones (SIGKILL aside: it cannot be held back)."""
    from contextlib import ExitStack

    items = list(files.items())
    with ExitStack() as stack:                        # its contexts exit last-in first: the stops after the files
        stack.enter_context(_stops_deferred())
        for path, write in reversed(items):
            write(stack.enter_context(atomic_path(path)))
    for path, _ in items:
        _remove_ended_temps(Path(path))
    return [Path(path) for path, _ in items]


def _remove_ended_temps(target: Path) -> None:
    """The temporaries of ``target`` a killed writer left (SIGKILL runs no cleanup), swept when the target is next
    written, for artifacts written without a folder lock (a table's files: its jobs share one folder). A writer
    still running on this host keeps its file."""
    name = target.name[:_TEMP_NAME]           # as _temp_prefix cuts it
    pattern = re.compile(rf"\.{re.escape(name)}\.(\d+)\.[^/]*\.tmp")
    for tmp in target.parent.glob(f".{glob.escape(name)}.*.tmp"):
        found = pattern.fullmatch(tmp.name)
        if found and int(found[1]) != os.getpid() and ended(int(found[1])):
            tmp.unlink(missing_ok=True)


@contextmanager
def _stops_deferred() -> Iterator[None]:
    """Hold a stop signal back until the block ends, then deliver it to the handler it was meant for. Handlers
    (Python's) run in the main thread whatever thread the signal reached, so a thread's signal mask would not do;
    outside the main thread, where handlers cannot be set, nothing is held back."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = {sig: signal.signal(sig, lambda sig, _frame: caught.append(sig)) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            if handler is not None:
                signal.signal(sig, handler)
        for sig in dict.fromkeys(caught):
            signal.raise_signal(sig)


def write_texts(files: dict) -> list[Path]:
    """Several text files of one artifact ({path: text}), replacing their targets together (replace_together)."""
    return replace_together({path: (lambda tmp, text=text: tmp.write_text(text)) for path, text in files.items()})


def json_or_none(path: PathLike):
    """A JSON file's value, or None where it is missing or not JSON: for probes that only look (status, a rerun
    finding its own finished result), never for a record a step trusts (read_record refuses those)."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def sha256sum(path: PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def first_repeat(items, key=lambda item: item):
    """The first item whose ``key`` an earlier item had, or None: what every "given twice" refusal names."""
    seen = set()
    for item in items:
        if key(item) in seen:
            return item
        seen.add(key(item))
    return None


def absent(path: PathLike) -> str:
    """Why ``path`` is not a file to read: missing, a folder, or a special file (a FIFO would block a reader)."""
    p = Path(path)
    if not p.exists():
        if p.is_symlink():
            try:
                p.resolve(strict=True)
            except RuntimeError:
                return "a loop of symbolic links"
            except OSError as err:
                if err.errno == errno.ELOOP:
                    return "a loop of symbolic links"
            return f"a symbolic link to {os.readlink(p)}, which does not exist"
        return "no such file"
    return "a folder, not a file" if p.is_dir() else "not a regular file (a device, FIFO or socket)"


def read_utf8(path: PathLike, what: str) -> str:
    """A text file another step or a user wrote (a UTF-8 byte-order mark dropped), or one line naming it when it is
    not UTF-8 or not a regular file: ``what`` it should be."""
    if not Path(path).is_file():
        raise ValueError(f"{path}: {absent(path)}; give the {what}")
    try:
        return Path(path).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not UTF-8 text (byte {err.start}); is it the {what}?") from None


def load_yaml(text: str):
    """YAML as yaml.safe_load reads it, except that a key given twice in one mapping is a YAMLError at its line
    (safe_load keeps the last silently: a recipe's second `lr:` would win unseen)."""
    import yaml

    class Loader(yaml.SafeLoader):
        def construct_mapping(self, node, deep=False):
            seen = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                if key in seen:
                    raise yaml.constructor.ConstructorError(None, None, f"key {key!r} given twice in one mapping",
                                                            key_node.start_mark)
                seen.add(key)
            return super().construct_mapping(node, deep)

    return yaml.load(text, Loader=Loader)


def load_json(text: str):
    """JSON as json.loads reads it, except that a key given twice in one object is a JSONDecodeError at that
    object (json.loads keeps the last silently), as load_yaml refuses it in YAML."""
    def once(pairs, doc=text):
        keys = [k for k, _ in pairs]
        twice = next((k for i, k in enumerate(keys) if k in keys[:i]), None)
        if twice is not None:
            raise json.JSONDecodeError(f"key {twice!r} given twice in one object", doc, 0)
        return dict(pairs)

    return json.loads(text, object_pairs_hook=once)


def read_record(path: PathLike, what: str, fix: str, keys: dict | None = None, kind: type = dict):
    """A JSON record another step wrote: ``kind`` (an object, or a list of objects), with ``keys`` {name: type or
    types} in the object (in each, for a list). Anything else is one ValueError naming the file, what it should be
    and ``fix``."""
    def refuse(problem: str):
        raise ValueError(f"{path}: not {what} ({problem}); {fix}")

    if not Path(path).exists():              # a path mistyped, or the step that writes it has not run
        raise ValueError(f"{path}: no such file (expected {what}); check the path, or {fix}")
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        refuse(f"{type(err).__name__}: {err}")
    if not isinstance(data, kind):
        refuse(f"a JSON {type(data).__name__}, expected a{'n object' if kind is dict else ' list'}")
    for item in (data if kind is list else [data]):
        if not isinstance(item, dict):
            refuse(f"an entry is a {type(item).__name__}, expected an object")
        for key, types in (keys or {}).items():
            if key not in item:
                refuse(f"no {key!r}")
            if not isinstance(item[key], types) or (isinstance(item[key], bool) and bool not in
                                                     (types if isinstance(types, tuple) else (types,))):
                refuse(f"{key!r} is {item[key]!r}")
    return data


def check_out_folder(folder: PathLike, ours, then: str) -> None:
    """Refuse an --out folder holding files or folders (dot-files aside) other than ``ours``, the paths this
    command writes there, and their folders: a user's folder is never added to. ``then``: the rest of the message,
    after the first other entry named."""
    folder = Path(folder)
    if not folder.is_dir():
        return
    allowed = {str(q) for rel in ours for q in (Path(rel), *Path(rel).parents) if str(q) != "."}
    other = sorted(rel for p in folder.rglob("*") if not p.name.startswith(".")
                   and (rel := str(p.relative_to(folder))) not in allowed)
    if other:
        raise ValueError(f"--out {folder}: a folder with other files ({other[0]}){then}")


def check_output(path: PathLike, inputs=(), header: str | None = None, what: str = "--out") -> Path:
    """Refuse, before any work, an output that is empty, a folder, one of the command's own inputs, or (with
    ``header``) an existing file this command did not write: nothing a user keeps is ever overwritten."""
    if not str(path).strip():
        raise ValueError(f"{what}: an empty path; name the file to write")
    out = Path(path)
    if out.is_dir():
        raise ValueError(f"{what} {out}: a folder; name a file to write")
    if out.exists():
        for given in inputs:
            try:
                same = bool(given) and Path(given).exists() and os.path.samefile(out, given)
            except OSError:                     # not a path (inline JSON, a name too long for one)
                same = False
            if same:
                raise ValueError(f"{what} {out} is also an input of this command ({given}); choose another file")
        if header is not None:
            with open(out, "rb") as fh:
                first = fh.readline().decode("utf-8", "replace").rstrip("\r\n")
            if first != header:
                raise ValueError(f"{what} {out}: exists and was not written by this command (it does not start "
                                 f"with {header!r}); choose another file, or remove it")
    check_writable(out.parent, f"{what} {out}")
    return out


def check_not_inside(path: PathLike, what: str = "--out", own: PathLike | None = None, study: bool = False) -> None:
    """Refuse an output inside a run's or a dataset's folder other than the command's ``own`` (and with ``study``,
    inside a profile's results; pst.layout.owner): nothing is added to them."""
    from pst.layout import owner

    inside = owner(path, own, study)
    if inside:
        raise ValueError(f"{what} {path}: {inside}; write it into a folder of its own")


def check_writable(folder: PathLike, what: str) -> Path:
    """Refuse, before any work, an output under a folder that cannot be written: the nearest existing folder is
    probed with a temporary file (permission bits do not tell root about a read-only mount or an immutable folder)."""
    near = Path(folder)
    while not near.exists() and near != near.parent:
        near = near.parent
    try:
        if not near.is_dir():
            raise NotADirectoryError(f"{near} is not a folder")
        with tempfile.TemporaryFile(dir=near, prefix=".pst-write-test."):
            pass
    except OSError as err:
        why = err.strerror or str(err)
        raise ValueError(f"{what}: cannot write there ({near}: {why}); choose a writable folder") from None
    return Path(folder)


def lock_holder(folder: str | Path) -> Optional[str]:
    """Who holds ``folder``'s lock now ("pst train (pid ..)", "an evaluation"), or None: a probe that takes and
    drops the lock without waiting and creates nothing (what `pst status` calls running)."""
    path = Path(f"{folder}.lock")
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return None
        except BlockingIOError:
            pass
        if _readers_only(fd):
            return "an evaluation"
        return os.pread(fd, 4096, 0).decode(errors="replace").strip() or "another process"
    finally:
        os.close(fd)


def _readers_only(fd: int) -> bool:
    """Whether a held lock is held by readers only (evaluations, a dataset's re-encoding shards): shared holders
    write no name, and another shared lock still gets in beside them."""
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def _orphaned(holder: str, path: Path) -> str:
    """When the holder named in a lock file has ended on this host, a process it started holds the lock (inherited
    with the file): what to look for."""
    found = re.search(r"\(pid (\d+) on (\S+)\)$", holder)
    if not found or found[2] != socket.gethostname():
        return ""
    if not ended(int(found[1])):
        return ""
    return f", which has ended: a process it started holds the lock (`fuser -v {path}` names it)"


def ended(pid: int) -> bool:
    """Whether process ``pid`` of this host has ended (another user's running process has not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass
    return False


class FolderInUseError(RuntimeError):
    """Another process writes this folder (a run, an evaluation, a record, a dataset's processed copy)."""


@contextmanager
def locked(folder: str | Path, what: str, shared: bool = False) -> Iterator[None]:
    """One writer per folder: a lock on ``FOLDER.lock`` beside it (so a start that fails its checks leaves the
    folder untouched; the last holder removes the lock file, and a process that locked a file removed meanwhile
    locks the new one). Training takes its run's exclusively; evaluations take their run's shared (several may read
    one run, none while it trains) and their own folder's exclusively; a dataset's re-encoding shards take its
    processed copy's shared, its plan and gather exclusively. A second writer refuses at once, naming the holder;
    an exclusive holder first removes what a killed writer left half-written there."""
    path = Path(f"{folder}.lock")
    _check_lock_file(path)
    with made_folder(path.parent):          # a command that fails leaves no empty folder made for its lock
        yield from _locked(path, folder, what, shared)


_HOLDER = re.compile(r".+ \(pid \d+ on .+\)", re.S)      # what an exclusive holder writes (a shared one: nothing)


def _check_lock_file(path: Path) -> None:
    """A file at the lock's path that no lock wrote (a user's own ``run.lock``) is refused, never written over and
    removed; an empty one, or one naming a holder (a killed writer's), is a lock."""
    try:
        if not path.is_file() or not path.stat().st_size:
            return
        text = path.read_bytes()[:4096].decode(errors="replace").strip()
    except OSError:
        return                                  # (unreadable: the lock itself says why)
    if not _HOLDER.fullmatch(text):
        raise ValueError(f"{path}: exists and is not a lock pst wrote (the lock of {Path(path.name).stem}/ goes "
                         "there and is removed after); move that file aside, or choose another folder")


def _open_lock(path: Path, shared: bool) -> Optional[int]:
    """The lock file, made if need be; a reader of a folder it may not write (a read-only mount, another user's
    results) takes the lock file that is there read-only, or none where there is none: it cannot make one, so it
    reads without (what it trusts is checked against its recorded digest when read)."""
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as err:
        if not shared or err.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
            raise
    try:
        return os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None


def _locked(path: Path, folder: str | Path, what: str, shared: bool) -> Iterator[None]:
    while True:
        fd = _open_lock(path, shared)
        if fd is None:
            yield
            return
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode(errors="replace").strip() or (
                "a reader (an evaluation of a run, a shard re-encoding a dataset)" if _readers_only(fd) else
                "another process")
            os.close(fd)
            raise FolderInUseError(f"{folder} is in use by {holder}{_orphaned(holder, path)}; wait for it to finish "
                                   "(or stop it), then run the command again") from None
        try:
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                break                      # still the file at that path (not one a finishing holder removed)
        except FileNotFoundError:
            pass
        os.close(fd)
    try:
        if not shared:
            try:
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"{what} (pid {os.getpid()} on {socket.gethostname()})\n".encode(), 0)
            except OSError as err:          # a full disk: named by the lock file, with the fix
                raise write_error(err, path) from None
            remove_stale_temps(Path(folder))    # a killed writer's half-written files: none is in use now
        yield
    finally:
        try:                               # the last holder removes the file, holding it exclusively
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            path.unlink(missing_ok=True)
        except BlockingIOError:
            pass
        except OSError as err:             # (a reader's of a folder it may not write: the lock stays as it was)
            if err.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
                raise
        finally:
            os.close(fd)


def _end_with(pid: int) -> None:
    """A pool worker's watch: it ends when the command that started it is gone (SIGKILL runs no handler, and a
    forkserver's workers are not its children), not go on writing where that command's lock no longer holds."""
    import threading
    import time

    def watch():
        while True:
            time.sleep(1.0)
            if ended(pid):
                os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def worker_pool(workers: int, context=None):
    """A process pool whose workers end with the command that started them (the writers under its folder lock)."""
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(workers, mp_context=context, initializer=_end_with, initargs=(os.getpid(),))
