"""What you see is what you sign: a PDF is admitted only when the text the kiosk shows the customer is
what its pages render (signer/pdf/, signer/pdf/render_check.py).

Each hostile PDF of tests/proofs/wysiwyg_pdfs.py is sent to the real daemon as a kiosk's sign order
(`POST /v1/sign`) and as a staff member's agreement (`POST /v1/agreements`): each is refused with a
400 naming the reason, and nothing is stored. `tillit-signer agreements add` calls the same
`Agreements.add` as the staff endpoint but costs ~2.5 s a run (it opens the HSM), so one document of
each kind of check goes through it (`THROUGH_THE_CLI`), refused with one line and exit 1. The
honest documents the other tests sign are still admitted on every path.
"""

from __future__ import annotations

import base64
import io
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.daemon import Daemon, make_daemon
from tests.proofs import pdfs, wysiwyg_pdfs
from tests.proofs.common import enrol_many, figures, query
from tillit.kiosk.pdftext import pdf_pages
from tillit.signer.pdf.render_check import DPI, compare_page, rendered_text, text_layer
from tillit.signer.sample_documents import agreement_pdf

pytestmark = pytest.mark.integration

HOSTILE = {name: (content_type, build) for name, content_type, build in wysiwyg_pdfs.HOSTILE}


def _with_an_empty_signature_field() -> bytes:
    """A bank's agreement with its own empty signature field, added in an incremental update (pyHanko)."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields

    writer = IncrementalPdfFileWriter(io.BytesIO(agreement_pdf("Kausjon", "Ola Nordmann", pages=1)))
    fields.append_signature_field(
        writer, fields.SigFieldSpec(sig_field_name="Kunde", on_page=0, box=(60, 60, 330, 140))
    )
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


# One of each kind of check: file layout, actions, revisions, content streams, rendering (words, numbers).
THROUGH_THE_CLI = [
    "leading-newline-octet-stream",
    "open-submit-form",
    "update-changes-amount",
    "render-mode-3",
    "outside-crop-box",
    "covered-by-rectangle",
    "lying-tounicode",
]

HONEST: dict[str, tuple[str, Callable[[], bytes]]] = {
    "sample-agreement": ("application/pdf", lambda: agreement_pdf("Lånavtale", "Kari Nordmann", pages=2)),
    "signature-field-update": ("application/pdf", _with_an_empty_signature_field),
    "raw-honest": ("application/pdf", wysiwyg_pdfs.honest),
    "raw-honest-octet-stream": ("application/octet-stream", wysiwyg_pdfs.honest),
    "fuzz-plain": ("application/pdf", pdfs.plain),
}


@pytest.fixture(scope="module")
def d(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    daemon = make_daemon(
        tmp_path_factory.mktemp("wysiwyg") / "home",
        TILLIT_RATE_ORDERS_PER_NUMBER="0",
        TILLIT_RATE_ORDERS_PER_KIOSK="0",
    )
    daemon.start()
    yield daemon
    daemon.stop()


@pytest.fixture(scope="module")
def customer(d: Daemon) -> Iterator[str]:
    made = enrol_many(d, 1)
    yield made[0][0]
    for _, phone in made:
        phone.close()


@pytest.fixture(scope="module")
def staff(d: Daemon) -> Iterator[httpx.Client]:
    token = d.run("tillit-signer", "kiosks", "add", "--name", "Bakrom", "--staff").stdout.strip()
    with httpx.Client(base_url=d.url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
        yield client


def stored(d: Daemon) -> tuple[int, ...]:
    """Rows a sign order or an agreement would add."""
    return tuple(
        query(d, f"SELECT COUNT(*) FROM {table}")[0][0]  # noqa: S608 - fixed names
        for table in ("orders", "documents", "agreements", "audit")
    )


def sign_order(k: httpx.Client, number: str, name: str, content_type: str, content: bytes) -> httpx.Response:
    document = {"name": f"{name}.pdf", "contentType": content_type, "content": base64.b64encode(content).decode()}
    return k.post("/v1/sign", json={"personalNumber": number, "userVisibleData": "Lån", "documents": [document]})


def assert_refused(response: httpx.Response, name: str) -> str:
    assert response.status_code == 400, (name, response.status_code, response.text[:400])
    body = response.json()
    assert body["error"] == "invalidParameters", body
    expected = rf"document '{re.escape(name)}\.pdf' is a PDF that cannot be signed: .{{10,}}"
    assert re.match(expected, body["reason"]), body
    return str(body["reason"])


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_pdf_is_refused_in_a_sign_order(d: Daemon, customer: str, name: str) -> None:
    content_type, build = HOSTILE[name]
    before = stored(d)
    with d.kiosk() as k:
        reason = assert_refused(sign_order(k, customer, name, content_type, build()), name)
    assert stored(d) == before
    figures("wysiwyg", **{f"reason {name}": reason.split(": ", 1)[1]})


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_pdf_is_refused_as_an_agreement(d: Daemon, customer: str, staff: httpx.Client, name: str) -> None:
    content_type, build = HOSTILE[name]
    del content_type  # an agreement is always taken for a PDF
    before = stored(d)
    document = base64.b64encode(build()).decode()
    response = staff.post(
        "/v1/agreements", json={"personalNumber": customer, "title": "Lån", "name": f"{name}.pdf", "document": document}
    )
    assert_refused(response, name)
    assert stored(d) == before


@pytest.mark.parametrize("name", THROUGH_THE_CLI)
def test_a_hostile_pdf_is_refused_by_agreements_add(d: Daemon, customer: str, tmp_path: Path, name: str) -> None:
    _, build = HOSTILE[name]
    path = tmp_path / f"{name}.pdf"
    path.write_bytes(build())
    before = stored(d)
    result = d.run(
        "tillit-signer", "agreements", "add", "--personal-number", customer, "--title", "Lån", str(path), check=False
    )
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"tillit-signer: document '{name}.pdf' is a PDF that cannot be signed: "), lines
    assert stored(d) == before


@pytest.mark.parametrize("name", sorted(HONEST))
def test_an_honest_pdf_is_admitted(d: Daemon, customer: str, staff: httpx.Client, tmp_path: Path, name: str) -> None:
    content_type, build = HONEST[name]
    content = build()
    with d.kiosk() as k:
        started = time.perf_counter()
        response = sign_order(k, customer, name, content_type, content)
        first = time.perf_counter() - started
        assert response.status_code == 200, response.text
        k.post("/v1/cancel", json={"orderRef": response.json()["orderRef"]})
        started = time.perf_counter()
        again = sign_order(k, customer, name, content_type, content)  # the verdict is cached by SHA-256
        cached = time.perf_counter() - started
        assert again.status_code == 200, again.text
        k.post("/v1/cancel", json={"orderRef": again.json()["orderRef"]})
    document = base64.b64encode(content).decode()
    added = staff.post("/v1/agreements", json={"personalNumber": customer, "title": name, "document": document})
    assert added.status_code == 201, added.text
    if name in ("sample-agreement", "signature-field-update"):
        path = tmp_path / f"{name}.pdf"
        path.write_bytes(content)
        d.run("tillit-signer", "agreements", "add", "--personal-number", customer, "--title", name, str(path))
    figures("wysiwyg", **{f"admit {name} first s": round(first, 3), f"admit {name} cached s": round(cached, 3)})


def test_the_text_compared_is_the_text_the_kiosk_shows() -> None:
    """The check reads the text layer as kiosk/pdftext.py does; the two may differ only in blank lines."""
    for content in (agreement_pdf("Lånavtale", "Kari Nordmann", pages=2), wysiwyg_pdfs.lying_to_unicode_map()):
        compared, shown = text_layer(content), pdf_pages(content)
        assert [text.split() for text in compared] == [text.split() for text in shown]
    assert "10 000 kr" in pdf_pages(wysiwyg_pdfs.lying_to_unicode_map())[0]  # what the customer would read


def test_the_cost_of_reading_a_page_back() -> None:
    content = agreement_pdf("Lånavtale", "Kari Nordmann", pages=2)
    started = time.perf_counter()
    shown = rendered_text(content, 2, time.monotonic() + 60)
    per_page = (time.perf_counter() - started) / 2
    assert all(compare_page(text, ocr) is None for text, ocr in zip(text_layer(content), shown, strict=True))
    figures("wysiwyg", **{f"render + OCR s/page (A4, {DPI} dpi)": round(per_page, 3)})


def test_a_document_too_long_to_check_is_refused(d: Daemon, customer: str) -> None:
    from tillit.signer.pdf.render_check import MAX_PAGES

    before = stored(d)
    content = agreement_pdf("Lånavtale", "Kari Nordmann", pages=MAX_PAGES + 1)
    with d.kiosk() as k:
        reason = assert_refused(sign_order(k, customer, "lang", "application/pdf", content), "lang")
    assert f"it has {MAX_PAGES + 1} pages; the signer checks what at most {MAX_PAGES} pages show" in reason
    assert stored(d) == before
