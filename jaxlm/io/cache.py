"""Remote inputs that a library must read from a local file (a sentencepiece model, the memory-mapped token store,
a Hugging Face folder, a corpus): copied once per host into the local cache, each file checked against the
bucket's checksum, with a progress bar. Later runs reuse the copy while the remote objects are unchanged."""

import base64
import hashlib
import json
import os
import shutil
import uuid

import filelock
import google_crc32c
from tqdm import tqdm

from jaxlm.errors import UserError
from jaxlm.io import gcs, is_remote

MANIFEST = ".jaxlm-copy.json"  # written last: a copy without it is incomplete
CHUNK = 1 << 22


def cache_root() -> str:
    """$JAXLM_CACHE, or ~/.cache/jaxlm."""
    return os.environ.get("JAXLM_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "jaxlm")


def local_copy(location: str, what: str, progress: bool = True) -> str:
    """A local path with the contents of `location` (a file or a folder): `location` itself when local, else its
    copy under $JAXLM_CACHE/remote/, made once (per host) and made again only when the remote objects change."""
    if not is_remote(location):
        return location
    fs, root = gcs.filesystem(), location.split("://", 1)[1].rstrip("/")
    gcs.check_bucket(location, what)
    objects = gcs.objects(location)
    if not objects:
        raise UserError(f"{what} '{location}' does not exist: check the path (`gcloud storage ls {location}`)")
    single = list(objects) == [""]
    key = hashlib.sha256(location.encode()).hexdigest()[:16]
    entry = os.path.join(cache_root(), "remote", key)
    target = os.path.join(entry, os.path.basename(root))
    wanted = {name: [info["size"], gcs.version(info)] for name, info in objects.items()}
    os.makedirs(os.path.dirname(entry), exist_ok=True)
    with filelock.FileLock(entry + ".lock"):  # the processes of one host copy each location once
        if _manifest(entry) == wanted:
            return target
        tmp = f"{entry}.partial-{uuid.uuid4().hex[:8]}"
        try:
            _download(fs, root, objects, os.path.join(tmp, os.path.basename(root)), single, location, progress)
            with open(os.path.join(tmp, MANIFEST), "w") as f:
                json.dump(wanted, f)
            shutil.rmtree(entry, ignore_errors=True)
            os.rename(tmp, entry)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def _manifest(entry: str) -> dict | None:
    try:
        with open(os.path.join(entry, MANIFEST)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _download(fs, root: str, objects: dict, out: str, single: bool, location: str, progress: bool) -> None:
    bar = tqdm(
        total=sum(int(i["size"]) for i in objects.values()),
        unit="B",
        unit_scale=True,
        leave=False,
        desc=f"copy {location}",
        disable=None if progress else True,
    )
    for name, info in sorted(objects.items()):
        dst = out if single else os.path.join(out, name)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        md5, crc = hashlib.md5(usedforsecurity=False), google_crc32c.Checksum()
        with fs.open(f"{root}/{name}" if name else root, "rb", block_size=CHUNK) as src, open(dst, "wb") as f:
            while chunk := src.read(CHUNK):
                f.write(chunk)
                md5.update(chunk)
                crc.update(chunk)
                bar.update(len(chunk))
        expected = [(info.get("md5Hash"), md5.digest()), (info.get("crc32c"), crc.digest())]
        if any(want and base64.b64decode(want) != got for want, got in expected):
            raise UserError(
                f"the copy of '{location}/{name}' does not match the bucket's checksum (changed while "
                "it was copied, or a transfer error): run the command again"
            )
    bar.close()
