"""Where runs and experiments are stored: a local directory, or a URI of a filesystem pyarrow knows
(``s3://bucket/prefix``, ``gs://``, ``abfs://``, ``hdfs://``, with query parameters such as
``?endpoint_override=http://host:9000&scheme=http``), as Ray Train's and Ray Tune's ``storage_path``.

A URI is passed to Ray as it is; what raynn itself writes beside Ray's files is written to a driver-local working
copy (:func:`work_dir`) and uploaded (:func:`upload_dir`). A URI is checked before anything starts
(:func:`check_uri`): pyarrow must know its scheme and parameters, credentials must be found, and a probe object
must be written and deleted under it (the bucket exists, is reachable and writable; pyarrow keeps the emptied
prefix as an empty directory marker, the directory Ray makes there anyway). Nothing else here reads
the network; :func:`is_uri`, :func:`join`, :func:`normalize` are pure.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import re
import secrets
import shutil
import sqlite3
import tempfile
import urllib.parse
from pathlib import Path
from typing import Any

from raynn.errors import ConfigError

__all__ = ["Uri", "URI_RULE", "check_uri", "copy_for_upload", "delete_dir", "delete_file", "download_dir",
           "download_file", "exists", "fetch_local", "fs_uri", "is_dir", "is_uri", "join", "listdir", "normalize",
           "read_text", "redact", "upload_dir", "upload_file", "work_dir", "write_text"]

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_SCHEME_NO_SLASHES = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]{1,}):(?!//)")  # "s3:bucket", "s3:/b"; not "C:"

URI_RULE = "must be a local directory or a URI of a filesystem pyarrow knows (s3://, gs://, abfs://, hdfs://)"

_SECRET_PARAMS = ("secret_key", "session_token", "access_key", "sas_token", "account_key")


class Uri(str):
    """A storage URI as a string that joins like a path: ``Uri("s3://b/p?x=1") / "run"`` is
    ``s3://b/p/run?x=1`` (the query stays at the end, where pyarrow reads it)."""

    def __truediv__(self, part: str) -> Uri:
        return Uri(join(self, part))

    @property
    def name(self) -> str:
        return _split(self)[0].rstrip("/").rsplit("/", 1)[-1]


def is_uri(value: Any) -> bool:
    """Whether ``value`` is a URI (``scheme://...``) rather than a local path."""
    return isinstance(value, str) and _SCHEME.match(value) is not None


def _split(uri: str) -> tuple[str, str]:
    base, sep, query = uri.partition("?")
    return base, query


def join(location: str | os.PathLike[str], *parts: str) -> str:
    """``location`` joined with ``parts``: ``os.path.join`` for a local path; for a URI the parts go before
    its query string."""
    if not is_uri(location):
        return os.path.join(location, *parts)
    base, query = _split(str(location))
    joined = "/".join([base.rstrip("/"), *(p.strip("/") for p in parts)])
    return f"{joined}?{query}" if query else joined


def redact(uri: str) -> str:
    """``uri`` with the values of secret query parameters (``secret_key=...``) replaced by ``***``."""
    base, query = _split(uri)
    if not query:
        return uri
    pairs = [(k, "***" if k in _SECRET_PARAMS else v)
             for k, v in urllib.parse.parse_qsl(query, keep_blank_values=True)]
    return f"{base}?{'&'.join(f'{k}={v}' for k, v in pairs)}"


def normalize(key: str, value: Any) -> str:
    """The storage ``value`` as Ray will get it, checked without touching the network: a URI as given
    (its trailing ``/`` dropped), a local path made absolute. A value that looks like a URI with its ``//``
    missing (``s3:bucket``) is refused: it would become a local folder named ``s3:``."""
    if not isinstance(value, (str, os.PathLike)) or not str(value) or "\x00" in str(value):
        raise ConfigError(key, "must be the path of a directory or a storage URI", value)
    text = str(value)
    if is_uri(text):
        base, query = _split(text)
        if not base.split("://", 1)[1].strip("/"):
            raise ConfigError(key, "must name a bucket or path after the scheme (s3://bucket/prefix)",
                              redact(text))
        return base.rstrip("/") + (f"?{query}" if query else "")
    if _SCHEME_NO_SLASHES.match(text):
        raise ConfigError(key, f"{URI_RULE}; this looks like a URI without '//' and would be a local folder "
                          f"named {text.split(':', 1)[0] + ':'!r}", text)
    return str(Path(text).resolve())


def filesystem(uri: str) -> tuple[Any, str]:
    """``(pyarrow filesystem, path on it)`` of ``uri``, as Ray resolves its ``storage_path``."""
    import pyarrow.fs

    return pyarrow.fs.FileSystem.from_uri(uri)


def fs_uri(storage: str, fs_path: str) -> str:
    """The URI of ``fs_path`` (a path on ``storage``'s filesystem, as Ray reports a checkpoint's path:
    ``bucket/prefix/run/checkpoint_000003``), with ``storage``'s scheme and query; a local path as it is."""
    if not is_uri(storage):
        return fs_path
    scheme = str(storage).split("://", 1)[0]
    query = _split(str(storage))[1]
    return f"{scheme}://{fs_path.lstrip('/')}" + (f"?{query}" if query else "")


# ----------------------------------------------------------------------------------------------------------
# The check before anything starts.

def check_uri(key: str, value: str) -> Uri:
    """``value`` (a URI) if it can hold runs: pyarrow knows its scheme and parameters, credentials are found
    (S3), and a probe object can be written and deleted under it. Otherwise a :class:`ConfigError` naming
    ``key``, the reason (pyarrow's, when it has one) and the URI, secrets redacted. No object is left behind."""
    uri = normalize(key, value)
    shown = redact(uri)
    scheme = uri.split("://", 1)[0].lower()
    try:
        fs, path = filesystem(uri)
    except Exception as exc:  # noqa: BLE001 - pyarrow's ArrowInvalid, OSError, ValueError: "cannot use"
        message = _first_line(exc)
        if "Unrecognized filesystem type" in message:
            raise ConfigError(key, f"{URI_RULE}; pyarrow does not know the scheme {scheme!r}", shown) from None
        raise ConfigError(key, f"must be a storage URI pyarrow can open ({message})", shown) from None
    if scheme == "s3" and not _s3_anonymous(uri):
        missing = _missing_aws_credentials()
        if missing:
            raise ConfigError(key, f"must come with AWS credentials, but {missing}", shown)
    _probe(key, fs, path, shown)
    return Uri(uri)


def _s3_anonymous(uri: str) -> bool:
    query = dict(urllib.parse.parse_qsl(_split(uri)[1]))
    return query.get("anonymous", "").lower() in ("1", "true") or "access_key" in query


def _missing_aws_credentials() -> str | None:
    """Why no AWS credentials are found, or None when some are (or when this cannot be told). The lookup is
    the AWS default chain (environment, shared files, SSO, web identity, container and instance metadata) as
    botocore resolves it, the chain pyarrow's S3 client follows too; without botocore installed, the probe
    alone decides."""
    try:
        import botocore.session
    except ImportError:
        return None
    try:
        found = botocore.session.get_session().get_credentials()
    except Exception as exc:  # noqa: BLE001 - a broken profile: say what botocore says
        return f"reading them failed ({_first_line(exc)})"
    if found is None:
        return ("none were found (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE or "
                "~/.aws/credentials, or give the nodes an instance profile)")
    return None


def _probe(key: str, fs: Any, path: str, shown: str) -> None:
    """Write and delete a small object under ``path``: what Ray's first write would find out, said now."""
    probe = f"{path.rstrip('/')}/.raynn-probe-{secrets.token_hex(4)}"
    try:
        with fs.open_output_stream(probe) as f:
            f.write(b"raynn storage probe\n")
    except Exception as exc:  # noqa: BLE001
        raise ConfigError(key, f"must be writable: writing a probe object failed ({_reason(exc)})",
                          shown) from None
    try:
        fs.delete_file(probe)
    except Exception as exc:  # noqa: BLE001
        raise ConfigError(key, f"must allow deleting what raynn writes (checkpoints are rotated): deleting the "
                          f"probe object {probe} failed ({_reason(exc)})", shown) from None


def _reason(exc: BaseException) -> str:
    message = _first_line(exc)
    for code, reason in (("NO_SUCH_BUCKET", "the bucket does not exist"),
                         ("ACCESS_DENIED", "access denied: check the credentials and the bucket's policy"),
                         ("NETWORK_CONNECTION", "cannot connect to the endpoint"),
                         ("RESOURCE_NOT_FOUND", "the bucket does not exist")):
        if code in message:
            detail = message.split("operation: ", 1)[-1]
            return f"{reason}: {detail}"
    return message


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


# ----------------------------------------------------------------------------------------------------------
# Reading and writing under a URI (or a local path: the same calls work on both).

def exists(location: str) -> bool:
    """Whether a file or directory is at ``location``."""
    if not is_uri(location):
        return os.path.exists(location)
    import pyarrow.fs

    fs, path = filesystem(location)
    return fs.get_file_info(path).type != pyarrow.fs.FileType.NotFound


def read_text(location: str) -> str:
    if not is_uri(location):
        return Path(location).read_text()
    fs, path = filesystem(location)
    with fs.open_input_stream(path) as f:
        return f.readall().decode()


def write_text(location: str, text: str) -> None:
    if not is_uri(location):
        Path(location).write_text(text)
        return
    fs, path = filesystem(location)
    with fs.open_output_stream(path) as f:  # an object appears whole or not at all
        f.write(text.encode())


def upload_file(local: str | os.PathLike[str], location: str) -> None:
    import pyarrow.fs

    fs, path = filesystem(location)
    pyarrow.fs.copy_files(str(local), path, destination_filesystem=fs)


def upload_dir(local: str | os.PathLike[str], location: str) -> None:
    """Copy the directory ``local`` (recursively) to ``location``, over what is there."""
    import pyarrow.fs

    fs, path = filesystem(location)
    pyarrow.fs.copy_files(str(local), path, destination_filesystem=fs)


def download_dir(location: str, local: str | os.PathLike[str]) -> bool:
    """Copy what is under ``location`` into the directory ``local``; False when nothing is there."""
    import pyarrow.fs

    fs, path = filesystem(location)
    if fs.get_file_info(path).type == pyarrow.fs.FileType.NotFound:
        return False
    Path(local).mkdir(parents=True, exist_ok=True)
    pyarrow.fs.copy_files(path, str(local), source_filesystem=fs)
    return True


def listdir(location: str) -> list[str]:
    """The names directly under ``location`` (empty when nothing is there)."""
    import pyarrow.fs

    fs, path = filesystem(location)
    infos = fs.get_file_info(pyarrow.fs.FileSelector(path, allow_not_found=True))
    return sorted(info.base_name for info in infos)


def is_dir(location: str) -> bool:
    import pyarrow.fs

    fs, path = filesystem(location)
    return fs.get_file_info(path).type == pyarrow.fs.FileType.Directory


def download_file(location: str, local: str | os.PathLike[str]) -> None:
    fs, path = filesystem(location)
    Path(local).parent.mkdir(parents=True, exist_ok=True)
    with fs.open_input_stream(path) as f:
        Path(local).write_bytes(f.readall())


def delete_file(location: str) -> None:
    fs, path = filesystem(location)
    fs.delete_file(path)


def delete_dir(location: str) -> None:
    fs, path = filesystem(location)
    fs.delete_dir(path)


def fetch_local(location: str | os.PathLike[str]) -> str:
    """A local path holding what is at ``location``: a local path as it is; a URI (a checkpoint directory or
    file) downloaded into a new temporary directory, removed when the process exits normally."""
    if not is_uri(str(location)):
        return str(location)
    import pyarrow.fs

    fs, path = filesystem(str(location))
    kind = fs.get_file_info(path).type
    if kind == pyarrow.fs.FileType.NotFound:
        raise FileNotFoundError(f"no checkpoint at {redact(str(location))}")
    directory = tempfile.mkdtemp(prefix="raynn-fetch-")
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    target = Path(directory, Path(path).name)
    if kind == pyarrow.fs.FileType.Directory:
        target.mkdir()
    pyarrow.fs.copy_files(path, str(target), source_filesystem=fs)
    return str(target)


def work_dir(location: str) -> Path:
    """The driver-local working copy of what raynn writes for the run or experiment at the URI ``location``
    (event log, TensorBoard files, the Optuna study, settings), uploaded from there. The same on every
    machine for the same URI (a temporary directory named by a digest of it), because paths inside
    Tune's pickled state (the Optuna study's) must still hold on a new head node."""
    base = _split(str(location))[0]
    digest = hashlib.sha256(base.encode()).hexdigest()[:16]
    path = Path(tempfile.gettempdir(), "raynn-work", f"{Uri(base).name}-{digest}")
    path.mkdir(parents=True, exist_ok=True)
    return path


def copy_for_upload(src: Path, dst: Path) -> None:
    """Copy ``src`` to ``dst`` so that the copy is consistent: an SQLite database (``*.db``, the Optuna study)
    through SQLite's online backup (a plain copy of a file being written can be torn), anything else as a
    file; a directory recursively. ``dst`` is replaced atomically (temp file + rename)."""
    if src.is_dir():
        for child in sorted(src.iterdir()):
            copy_for_upload(child, dst / child.name)
        return
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.raynn-tmp")
    if src.suffix == ".db":
        source, target = sqlite3.connect(src), sqlite3.connect(tmp)
        try:
            source.backup(target)
        finally:
            target.close()
            source.close()
    else:
        shutil.copyfile(src, tmp)
    os.replace(tmp, dst)
