"""PDF: rewritten with pikepdf in memory without document info, XMP, IDs or author names."""

from __future__ import annotations

import io

import pikepdf
from pikepdf import Dictionary, Name, Stream

from reportline.cleaning.errors import FileRefused, RefusalReason
from reportline.cleaning.model import CleanedFile
from reportline.cleaning.segments import strip_jpeg_metadata

SIGNED_SENTENCE = (
    "The PDF is digitally signed, and a signature names who signed it, where and when. "
    "Print it to a new PDF (which leaves the signature out) and send that copy instead."
)
ENCRYPTED_SENTENCE = (
    "The PDF is protected by a password. Remove the password (for example by printing it "
    "to a new PDF) and send that copy instead."
)
# Writers may put a little junk after the last %%EOF; a truncated file has none.
_EOF_SEARCH = 1024
# Markup annotations whose /T is the author's name (a form field's /T is its name: kept).
_NOT_MARKUP = frozenset({"/Widget", "/Link", "/Popup"})


def clean_pdf(data: bytes) -> CleanedFile:
    """Rewrite a PDF without its Info dictionary, XMP streams, /ID, annotation authors,
    scripts, attachments and metadata inside its JPEG pictures.

    Raises FileRefused (UNREADABLE when damaged or password-protected).
    """
    if b"%%EOF" not in data[-_EOF_SEARCH:]:
        # Cut short: qpdf would rebuild what it can and show blank or missing pages.
        raise FileRefused(RefusalReason.UNREADABLE)
    try:
        pdf = pikepdf.open(io.BytesIO(data))
    except pikepdf.PasswordError:
        raise FileRefused(RefusalReason.UNREADABLE, ENCRYPTED_SENTENCE) from None
    except (pikepdf.PdfError, ValueError, OSError) as exc:
        raise FileRefused(RefusalReason.UNREADABLE) from exc
    with pdf:
        try:
            if len(pdf.pages) == 0:
                raise FileRefused(RefusalReason.UNREADABLE)
            removed = _strip_document(pdf)
            removed |= _strip_objects(pdf)
            out = io.BytesIO()
            # A fresh /ID derived from the content: the original one can link copies.
            pdf.save(out, deterministic_id=True, linearize=False)
        except (pikepdf.PdfError, ValueError, KeyError, OSError) as exc:
            raise FileRefused(RefusalReason.UNREADABLE) from exc
    return CleanedFile(
        data=out.getvalue(),
        media_type="application/pdf",
        kind="pdf",
        extension=".pdf",
        removed=tuple(sorted(removed)),
    )


def _strip_document(pdf: pikepdf.Pdf) -> set[str]:
    """Remove the trailer's Info and ID and the catalogue's scripts and attachments."""
    removed: set[str] = set()
    if Name.Info in pdf.trailer:
        info = pdf.trailer.Info
        if Name.Author in info:
            removed.add("author")
        if Name.CreationDate in info or Name.ModDate in info:
            removed.add("edit-times")
        removed.add("document-info")
        del pdf.trailer.Info
    if Name.ID in pdf.trailer:
        # qpdf keeps the first (permanent) ID of a trailer that has one; without it, it
        # derives both from the content (deterministic_id on save).
        removed.add("document-id")
        del pdf.trailer.ID
    root = pdf.Root
    for key in (Name.OpenAction, Name.AA):
        if key in root:
            removed.add("scripts")
            del root[key]
    if Name.Names in root:
        names = root.Names
        if Name.JavaScript in names:
            removed.add("scripts")
            del names[Name.JavaScript]
        if Name.EmbeddedFiles in names:
            removed.add("attachments")
            del names[Name.EmbeddedFiles]
    return removed


def _strip_objects(pdf: pikepdf.Pdf) -> set[str]:
    """Remove XMP, private application data and annotation authors from every object,
    and metadata segments from JPEG pictures."""
    removed: set[str] = set()
    for obj in pdf.objects:
        if not isinstance(obj, Dictionary | Stream):
            continue
        if _is_signature(obj) or _is_signature(obj.get(Name.V)):
            # A signature holds the signer's certificate, name, place and exact time.
            raise FileRefused(RefusalReason.CANNOT_CLEAN, SIGNED_SENTENCE)
        if Name.LastModified in obj:
            removed.add("edit-times")
            del obj[Name.LastModified]
        if Name.Metadata in obj:
            removed.add("xmp")
            del obj[Name.Metadata]
        if Name.PieceInfo in obj:
            removed.add("document-info")
            del obj[Name.PieceInfo]
        if obj.get(Name.Type) == Name.Annot:
            removed |= _strip_annotation(obj)
        if isinstance(obj, Stream) and obj.get(Name.Subtype) == Name.Image:
            removed |= _strip_picture(obj)
    return removed


def _is_signature(obj: object) -> bool:
    """Whether `obj` is a signature dictionary (a field's value or an object of its own)."""
    return isinstance(obj, Dictionary) and (obj.get(Name.Type) == Name.Sig or Name.ByteRange in obj)


def _strip_annotation(annot: pikepdf.Object) -> set[str]:
    """Drop the author, dates and actions of one annotation."""
    removed: set[str] = set()
    if str(annot.get(Name.Subtype)) not in _NOT_MARKUP and Name.T in annot:
        removed.add("annotation-authors")
        del annot[Name.T]
    for stamp in (Name.M, Name.CreationDate):
        if stamp in annot:
            removed.add("edit-times")
            del annot[stamp]
    if Name.AA in annot:
        removed.add("scripts")
        del annot[Name.AA]
    action = annot.get(Name.A)
    if isinstance(action, Dictionary) and action.get(Name.S) in (Name.JavaScript, Name.Launch):
        removed.add("scripts")
        del annot[Name.A]
    if Name.FS in annot and annot.get(Name.Subtype) == Name.FileAttachment:
        removed.add("attachments")
        del annot[Name.FS]
    return removed


def _strip_picture(image: Stream) -> set[str]:
    """Remove EXIF, XMP, IPTC and comments from a JPEG picture stored as it is (DCTDecode)."""
    if image.get(Name.Filter) != Name.DCTDecode:
        return set()
    found = strip_jpeg_metadata(image.read_raw_bytes())
    if found is None or not found[1]:
        return set()
    stripped = found[0]
    parms = image.get(Name.DecodeParms)
    image.write(
        stripped,
        filter=Name.DCTDecode,
        decode_parms=parms if isinstance(parms, Dictionary | pikepdf.Array) else None,
    )
    return {"image-metadata"}
