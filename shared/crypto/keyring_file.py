"""Reading and writing the keyring file safely: mode 0600 from the first byte, atomic
replacement, no overwrite on creation, and a lock so two `keys rotate` cannot lose a
version between them."""

from __future__ import annotations

import fcntl
import json
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from shared.crypto.errors import KeyringError

FILE_MODE = 0o600
DIR_MODE = 0o700


def read_document(path: Path) -> dict[str, Any]:
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise KeyringError(f"no keyring at {path}; create one with `bridgeline keys init`") \
            from exc
    if mode & 0o077:
        raise KeyringError(f"{path} is readable by others (mode {mode:o}); chmod 600 it")
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise KeyringError(f"{path} is not valid JSON") from exc
    if not isinstance(document, dict):
        raise KeyringError(f"{path} is malformed")
    return document


def write_new(path: Path, document: dict[str, Any]) -> None:
    """Create `path`; KeyringError if it exists. Written aside, then linked into place,
    so a crash never leaves a half-written keyring and an existing one is never touched."""
    temporary = _write_temporary(path, document)
    try:
        os.link(temporary, path)
    except FileExistsError as exc:
        raise KeyringError(f"{path} exists; refusing to overwrite a keyring") from exc
    finally:
        temporary.unlink()


def write_replacing(path: Path, document: dict[str, Any]) -> None:
    os.replace(_write_temporary(path, document), path)


def _write_temporary(path: Path, document: dict[str, Any]) -> Path:
    path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    os.fchmod(fd, FILE_MODE)  # whatever the umask
    with os.fdopen(fd, "wb") as file:
        file.write(json.dumps(document, indent=2).encode("utf-8"))
        file.flush()
        os.fsync(file.fileno())
    return temporary


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive lock on `<keyring>.lock` for a read-modify-write of the keyring."""
    lock_path = path.with_name(path.name + ".lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
