"""Generated agreements (real multi-page PDFs) for the demo and the tests."""

from __future__ import annotations

from fpdf import FPDF

_CLAUSES = (
    "Kunden godkjenner vilkåra for tenesta slik dei er skildra i denne avtalen.",
    "Banken behandlar personopplysningar i samsvar med personvernforordninga.",
    "Avtalen kan seiast opp av begge partar med ein månads varsel.",
    "Renter og gebyr følgjer til kvar tid gjeldande prisliste.",
    "Kunden pliktar å varsle banken straks ved tap av BankID eller kodebrikke.",
    "Tvistar skal søkjast løyste i minnelegheit før dei vert førte for domstolane.",
)


def agreement_pdf(title: str, customer_name: str, pages: int = 3) -> bytes:
    """A plain agreement: a title, numbered clauses on each page, a place to sign on the last."""
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=20)
    pdf.set_title(title)
    for page in range(1, pages + 1):
        pdf.add_page()
        pdf.set_font("Helvetica", "B", 16)
        pdf.cell(0, 10, title if page == 1 else f"{title} (side {page})", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", size=11)
        if page == 1:
            pdf.multi_cell(0, 6, f"Avtale mellom Tillit Bank og {customer_name}.")
            pdf.ln(4)
        for number, clause in enumerate(_CLAUSES, start=1):
            pdf.multi_cell(0, 6, f"{page}.{number}  {clause}")
            pdf.ln(2)
        pdf.set_font("Helvetica", "I", 9)
        pdf.cell(0, 8, f"Side {page} av {pages}", new_x="LMARGIN", new_y="NEXT", align="C")
    pdf.set_font("Helvetica", size=11)
    pdf.ln(6)
    pdf.multi_cell(0, 6, "Avtalen vert signert elektronisk med Tillit BankID.")  # before: it is read unsigned
    return bytes(pdf.output())
