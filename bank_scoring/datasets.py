"""Getting the UCI Bank Marketing data: from ``BANK_CSV``, or downloaded from UCI.

UCI's archive has been seen in two layouts: folders bank/ and bank-additional/, or nested
bank.zip and bank-additional.zip. Both are accepted; what is checked is the extracted
CSV (header and row count), and a sha256 that differs from the published one is a
warning, not a refusal.
"""

from __future__ import annotations

import io
import logging
import shutil
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from bank_scoring.db import file_sha256
from bank_scoring.ingest import UCI_COLUMNS

log = logging.getLogger(__name__)

UCI_URL = "https://archive.ics.uci.edu/static/public/222/bank+marketing.zip"
KNOWN_FILES = {
    "bank-full.csv": {"rows": 45_211, "sha256": "d1513ec63b385506f7cfce9f2c5caa9fe99e7ba4e8c3fa264b3aaf0f849ed32d"},
    "bank.csv": {"rows": 4_521, "sha256": "dc8d576e9bda0f41ee891251bd84bab9a39ce576cba715aac08adc2374a01fde"},
}


class DataUnavailable(RuntimeError):
    """The data could not be had (no network, a bad archive); the message says what to do."""


@dataclass
class DataFile:
    path: Path
    origin: str
    rows: int
    sha256: str
    warnings: list[str] = field(default_factory=list)


def check_csv(path: Path, origin: str) -> DataFile:
    """Check a UCI CSV's header and, for the known files, row count and sha256."""
    with open(path, encoding="utf-8-sig") as fh:
        header = fh.readline()
        rows = sum(1 for line in fh if line.strip())
    columns = [c.strip().strip('"').lower() for c in header.strip().split(";")]
    missing = [c for c in UCI_COLUMNS if c not in columns]
    if missing:
        raise DataUnavailable(f"{path}: not a UCI Bank Marketing file (header lacks {', '.join(missing)})")
    found = DataFile(path, origin, rows, file_sha256(path))
    known = KNOWN_FILES.get(path.name)
    if known:
        if rows != known["rows"]:
            found.warnings.append(f"{path.name} has {rows} rows, UCI's has {known['rows']}")
        if found.sha256 != known["sha256"]:
            found.warnings.append(
                f"{path.name} sha256 {found.sha256[:16]}... differs from the published "
                f"{known['sha256'][:16]}...: not UCI's exact bytes"
            )
    return found


def _find_member(archive: zipfile.ZipFile, name: str) -> bytes | None:
    for member in archive.namelist():
        if Path(member).name == name and "__MACOSX" not in member:
            return archive.read(member)
    for member in archive.namelist():
        if member.endswith(".zip") and "__MACOSX" not in member:
            with zipfile.ZipFile(io.BytesIO(archive.read(member))) as inner:
                found = _find_member(inner, name)
                if found is not None:
                    return found
    return None


def extract_csv(zip_path: Path, dest_dir: Path, name: str = "bank-full.csv") -> Path:
    """Extract ``name`` from a UCI archive in either layout."""
    try:
        with zipfile.ZipFile(zip_path) as archive:
            data = _find_member(archive, name)
    except zipfile.BadZipFile as exc:
        raise DataUnavailable(f"{zip_path} is not a valid zip archive ({exc}); delete it and try again") from None
    if data is None:
        raise DataUnavailable(f"{zip_path} holds no {name}")
    dest_dir.mkdir(parents=True, exist_ok=True)
    out = dest_dir / name
    tmp = out.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(out)
    return out


def download(url: str, dest: Path, timeout: float = 30.0) -> Path:
    """Fetch ``url`` to ``dest`` (via a temporary file, so a broken download leaves nothing)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(dest.suffix + ".part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp, "wb") as out:
            shutil.copyfileobj(response, out)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        tmp.unlink(missing_ok=True)
        raise DataUnavailable(f"could not download {url}: {exc}") from None
    tmp.replace(dest)
    return dest


def obtain_bank_csv(bank_csv: Path | None, data_dir: Path, url: str = UCI_URL, timeout: float = 30.0) -> DataFile:
    """The UCI file to load: ``bank_csv`` when given, else bank-full.csv from UCI's archive.

    A previously downloaded archive under ``data_dir`` is reused.
    """
    if bank_csv is not None:
        if not bank_csv.is_file():
            raise DataUnavailable(f"BANK_CSV points to {bank_csv}, which is not a file")
        return check_csv(bank_csv, f"BANK_CSV={bank_csv}")
    zip_path = data_dir / "bank+marketing.zip"
    if not zip_path.is_file():
        log.info("downloading %s", url)
        download(url, zip_path, timeout)
    csv_path = extract_csv(zip_path, data_dir)
    return check_csv(csv_path, url)
