"""Getting the data over real HTTP from a server on localhost."""

import functools
import http.server
import io
import threading
import zipfile

import pytest

from bank_scoring.datasets import DataUnavailable, check_csv, extract_csv, obtain_bank_csv


@pytest.fixture
def http_dir(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def nested_zip(bank_full_csv) -> bytes:
    """UCI's own layout: bank.zip inside the archive, the CSVs inside bank.zip."""
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as z:
        z.write(bank_full_csv, "bank-full.csv")
    outer = io.BytesIO()
    with zipfile.ZipFile(outer, "w") as z:
        z.writestr("bank.zip", inner.getvalue())
        z.writestr("bank-additional.zip", b"PK\x05\x06" + b"\x00" * 18)
    return outer.getvalue()


def test_download_of_the_shipped_archive_checks_out(http_dir, bank_full_csv, tmp_path):
    root, url = http_dir
    shipped = bank_full_csv.with_name("bank+marketing.zip")
    if not shipped.is_file():
        pytest.skip("bank+marketing.zip not beside bank-full.csv")
    (root / "bank+marketing.zip").write_bytes(shipped.read_bytes())
    found = obtain_bank_csv(None, tmp_path / "data", url=f"{url}/bank+marketing.zip")
    assert found.rows == 45_211 and found.warnings == []
    assert found.path == tmp_path / "data" / "bank-full.csv"


def test_nested_layout_is_accepted_and_the_archive_reused(http_dir, bank_full_csv, tmp_path):
    root, url = http_dir
    (root / "uci.zip").write_bytes(nested_zip(bank_full_csv))
    found = obtain_bank_csv(None, tmp_path / "data", url=f"{url}/uci.zip")
    assert found.rows == 45_211 and found.warnings == []
    (root / "uci.zip").unlink()  # a second call must not need the network
    assert obtain_bank_csv(None, tmp_path / "data", url=f"{url}/uci.zip").rows == 45_211


def test_other_bytes_are_a_warning_not_a_refusal(tmp_path, bank_full_csv):
    copy = tmp_path / "bank-full.csv"
    lines = bank_full_csv.read_text().splitlines()
    copy.write_text("\n".join(lines[:1001]) + "\n")
    found = check_csv(copy, "test")
    assert found.rows == 1000
    assert any("1000 rows" in w for w in found.warnings) and any("sha256" in w for w in found.warnings)


def test_no_network_is_a_clear_message(tmp_path, http_dir):
    _, url = http_dir
    with pytest.raises(DataUnavailable, match="could not download"):
        obtain_bank_csv(None, tmp_path / "data", url=f"{url}/missing.zip", timeout=5)
    assert not (tmp_path / "data" / "bank+marketing.zip").exists()


def test_bad_archive_and_bad_bank_csv(tmp_path):
    bad = tmp_path / "bank+marketing.zip"
    bad.write_bytes(b"not a zip")
    with pytest.raises(DataUnavailable, match="not a valid zip"):
        extract_csv(bad, tmp_path)
    with pytest.raises(DataUnavailable, match="not a file"):
        obtain_bank_csv(tmp_path / "nope.csv", tmp_path)
    other = tmp_path / "other.csv"
    other.write_text("a;b\n1;2\n")
    with pytest.raises(DataUnavailable, match="not a UCI Bank Marketing file"):
        check_csv(other, "test")
