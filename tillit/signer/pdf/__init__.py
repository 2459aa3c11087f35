"""Refusing hostile PDFs at order start, before anything is stored, shown or signed.

A PDF the customer approves must be the PDF the customer can read. The kiosk shows the customer a
PDF's text layer (pypdf's `extract_text`, kiosk/pdftext.py), while a viewer, a printer and every
signature validator show what its pages render: a PDF is accepted only when the two agree ("what
you see is what you sign"). What the modules of this package check, exactly, by parsing:

- What is a PDF (`sniffing.looks_like_pdf`): sniffed from the bytes and the content type together, never
  one alone: a PDF content type in any spelling, "%PDF-" anywhere in the first 1024 bytes (viewers
  accept that), or a "startxref" near the end (poppler opens a PDF with no header at all). Whatever
  is sniffed as a PDF goes through every check below; a PDF must begin with its "%PDF-" header and
  end at its last "%%EOF", so no two readers can start or stop reading it at different places.
- Structure (`objects.inspect_pdf`): a page tree that is a tree and has the pages it declares, every object
  it refers to readable (a broken cross-reference table fails here, not in the middle of signing),
  no stream that decompresses into a bomb (the kiosk renders the text; nobody should be handed a
  10 MB file that inflates to gigabytes).
- Active and remote content: no JavaScript, XFA forms or rich media, and no action that leaves the
  document or changes it (Launch, SubmitForm, ResetForm, ImportData, GoToR, GoToE, SetOCGState,
  Hide, Rendition, Sound, Movie, a URI that is not http(s) or mailto) anywhere in it; what runs by
  itself (the catalog's /OpenAction, any /AA) may only go to a place in the document.
- Revisions (`revisions.inspect_revisions`): an incremental update after the first %%EOF may add things a
  signing workflow adds (an empty signature field), but must not change any page's content,
  resources or boxes: otherwise the revision a reader starts from decides what it shows.
- Page content (`content.inspect_page_content`, every content stream and form XObject interpreted): no text
  the reader cannot see but the text layer holds: render modes 3 and 7 (invisible), text placed
  outside the crop box or the media box, white (or near-white) text on a page where nothing was
  painted beneath it, fully transparent text, text less than a point high.

What can be decided only by looking at the rendered page (a font whose ToUnicode map lies, text
covered by a shape or an image drawn later, text clipped away) is checked by
`tillit.signer.pdf.render_check`: each page is rendered and read back with OCR, and compared with the text
layer.

Everything is bounded: objects visited, pages, nesting, bytes inflated per stream and in total,
content-stream operations interpreted.
"""
