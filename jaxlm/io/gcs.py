"""gs:// through gcsfs (what etils epath and orbax use for buckets), configured once per process: credentials,
no listing cache, an emulator (`STORAGE_EMULATOR_HOST`) for tensorstore too, and bucket errors as one line."""

import functools
import logging
import os

import fsspec

from jaxlm.errors import UserError

CREDENTIALS_HINT = (
    "run `gcloud auth application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS to a service account key"
)


@functools.cache
def configure() -> None:
    """Set up gcsfs and tensorstore for gs:// before their first use; UserError when there are no credentials.

    Against an emulator (`STORAGE_EMULATOR_HOST`, as the tests run) requests are anonymous, and tensorstore, which
    writes orbax's arrays through its own GCS driver, is pointed there (`TENSORSTORE_GCS_HTTP_URL`, and a test
    token in `GOOGLE_AUTH_TOKEN_FOR_TESTING`) unless those are set already. Elsewhere the Application Default
    Credentials are required. gcsfs's experimental bucket-type probe over gRPC stays off (it waits 60 s a call
    against an emulator).
    """
    os.environ["GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT"] = "false"
    emulator = os.environ.get("STORAGE_EMULATOR_HOST")
    if emulator:
        os.environ.setdefault("TENSORSTORE_GCS_HTTP_URL", emulator)
        os.environ.setdefault("GOOGLE_AUTH_TOKEN_FOR_TESTING", "emulator")
        token = "anon"
    else:
        import google.auth
        import google.auth.exceptions

        quiet = logging.getLogger("google.auth")  # each method it tries would log a warning line
        level = quiet.level
        quiet.setLevel(logging.ERROR)
        try:
            google.auth.default()
        except google.auth.exceptions.DefaultCredentialsError as e:
            reason = str(e).splitlines()[0][:120]
            raise UserError(f"no Google Cloud credentials for gs:// paths ({reason}): {CREDENTIALS_HINT}") from None
        finally:
            quiet.setLevel(level)
        token = "google_default"
    # Listings are not cached: a lock, a checkpoint or metrics written by another host must be seen at once.
    fsspec.config.conf["gs"] = dict(token=token, use_listings_cache=False)


def filesystem():
    """The process's gcsfs filesystem (configured)."""
    configure()
    return fsspec.filesystem("gs")


def bucket_of(location: str) -> str:
    """'bkt' for 'gs://bkt/a/b'."""
    return location.split("://", 1)[1].split("/", 1)[0]


def check_bucket(location: str, flag: str) -> None:
    """UserError in one line if `location`'s bucket does not exist or cannot be read with these credentials."""
    bucket = bucket_of(location)
    try:
        filesystem().info(bucket)
    except FileNotFoundError:
        raise UserError(
            f"{flag} '{location}': bucket 'gs://{bucket}' does not exist: create it (`gcloud storage "
            f"buckets create gs://{bucket}`) or fix the path"
        ) from None
    except UserError:
        raise
    except Exception as e:  # noqa: BLE001 - gcsfs raises HttpError, OSError, aiohttp errors...
        reason = str(e).splitlines()[0][:120] if str(e) else type(e).__name__
        raise UserError(
            f"cannot reach {flag} '{location}' ({reason}): check the bucket's name, its permissions "
            f"and the credentials ({CREDENTIALS_HINT})"
        ) from None


def objects(location: str) -> dict[str, dict]:
    """The objects at `location` ('gs://bkt/path'), listed at once: {name relative to it: gcsfs info}; a single
    object is {'': info}, a prefix (a folder) every object below it; {} when there is none."""
    fs, root = filesystem(), location.split("://", 1)[1].rstrip("/")
    try:
        info = fs.info(root)
    except FileNotFoundError:
        return {}
    if info["type"] == "file":
        return {"": info}
    return {f[len(root) + 1 :]: i for f, i in fs.find(root, detail=True).items()}


def version(info: dict) -> str:
    """What changes whenever an object is rewritten: its generation (else its etag)."""
    return str(info.get("generation") or info.get("etag"))
