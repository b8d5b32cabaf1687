"""Files built in code for the cleaning tests, each carrying canary strings in its metadata."""

# ruff: noqa: E501 (Office XML parts read best one element per line)

from __future__ import annotations

import io
import shutil
import struct
import subprocess
import zipfile
import zlib

import pikepdf
from PIL import ExifTags, Image, ImageCms
from PIL.PngImagePlugin import PngInfo

from reportline.cleaning.memfiles import memory_file, read_all

CANARY = b"Canary"
GPS = {
    ExifTags.GPS.GPSLatitudeRef: "N",
    ExifTags.GPS.GPSLatitude: (51.0, 30.0, 26.0),
    ExifTags.GPS.GPSLongitudeRef: "W",
    ExifTags.GPS.GPSLongitude: (0.0, 7.0, 39.0),
    ExifTags.GPS.GPSProcessingMethod: b"ASCII\0\0\0CanaryGps",
}
XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF>CanaryXmpCreator</rdf:RDF></x:xmpmeta>'


def two_colour_picture(width: int = 60, height: int = 40) -> Image.Image:
    """Left half red, right half blue: orientation can be checked after cleaning."""
    picture = Image.new("RGB", (width, height), (255, 0, 0))
    picture.paste((0, 0, 255), (width // 2, 0, width, height))
    return picture


def camera_exif(orientation: int = 1) -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "CanaryMake"
    exif[ExifTags.Base.Model] = "CanaryModel"
    exif[ExifTags.Base.Software] = "CanarySoftware"
    exif[ExifTags.Base.Orientation] = orientation
    exif[ExifTags.IFD.GPSInfo] = GPS
    exif[ExifTags.IFD.Exif] = {
        ExifTags.Base.MakerNote: b"CanaryMakerNote",
        ExifTags.Base.BodySerialNumber: "CanarySerial",
        ExifTags.Base.DateTimeOriginal: "2026:01:02 03:04:05",
    }
    return exif


def srgb_profile() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def camera_jpeg(orientation: int = 1, size: tuple[int, int] = (60, 40)) -> bytes:
    """A JPEG with EXIF (GPS, make, model, maker note, serial), XMP, ICC and a comment."""
    out = io.BytesIO()
    two_colour_picture(*size).save(
        out,
        "JPEG",
        quality=95,
        exif=camera_exif(orientation),
        xmp=XMP,
        icc_profile=srgb_profile(),
        comment=b"CanaryComment",
    )
    return out.getvalue()


def tagged_png() -> bytes:
    """A PNG with text chunks, EXIF with GPS and an ICC profile."""
    info = PngInfo()
    info.add_text("Author", "CanaryPngAuthor")
    info.add_itxt("XML:com.adobe.xmp", XMP.decode())
    out = io.BytesIO()
    two_colour_picture().save(
        out, "PNG", pnginfo=info, exif=camera_exif(), icc_profile=srgb_profile()
    )
    return out.getvalue()


def picture(fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    two_colour_picture().save(out, fmt, **options)
    return out.getvalue()


def pixel_bomb_png(width: int = 20_000, height: int = 20_000) -> bytes:
    """A tiny PNG whose header declares a huge picture (the header is all that is read)."""
    out = io.BytesIO()
    Image.new("1", (8, 8)).save(out, "PNG")
    data = bytearray(out.getvalue())
    ihdr = data.find(b"IHDR")
    struct.pack_into(">II", data, ihdr + 4, width, height)
    struct.pack_into(">I", data, ihdr + 17, zlib.crc32(bytes(data[ihdr : ihdr + 17])))
    return bytes(data)


def tagged_pdf(encrypt: bool = False) -> bytes:
    """A one-page PDF with Info, XMP, an /ID, an annotation author and a JPEG with EXIF."""
    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=(200, 200))
    pdf.docinfo[pikepdf.Name.Author] = "CanaryPdfAuthor"
    pdf.docinfo[pikepdf.Name.Producer] = "CanaryProducer"
    with pdf.open_metadata(set_pikepdf_as_editor=False) as meta:
        meta["dc:creator"] = ["CanaryXmpCreator"]
    page = pdf.pages[0]
    jpeg = camera_jpeg()
    image = pikepdf.Stream(pdf, jpeg)
    image.Type, image.Subtype = pikepdf.Name.XObject, pikepdf.Name.Image
    image.Width, image.Height, image.BitsPerComponent = 60, 40, 8
    image.ColorSpace, image.Filter = pikepdf.Name.DeviceRGB, pikepdf.Name.DCTDecode
    page.Resources = pikepdf.Dictionary(XObject=pikepdf.Dictionary(Im0=image))
    page.Contents = pdf.make_stream(b"q 60 0 0 40 10 10 cm /Im0 Do Q")
    note = pikepdf.Dictionary(
        Type=pikepdf.Name.Annot,
        Subtype=pikepdf.Name.Text,
        Rect=[10, 10, 30, 30],
        T=pikepdf.String("CanaryAnnotAuthor"),
        Contents=pikepdf.String("a note"),
    )
    page.Annots = pdf.make_indirect(pikepdf.Array([pdf.make_indirect(note)]))
    out = io.BytesIO()
    encryption = pikepdf.Encryption(user="secret", owner="secret") if encrypt else False
    pdf.save(out, encryption=encryption, static_id=False)
    return out.getvalue()


W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
W15 = "http://schemas.microsoft.com/office/word/2012/wordml"
R = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG = "http://schemas.openxmlformats.org/package/2006/relationships"
DOCX_MAIN = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
DOCM_MAIN = "application/vnd.ms-word.document.macroEnabled.main+xml"


def docx_parts(main_type: str = DOCX_MAIN) -> dict[str, bytes]:
    """The parts of a small Word document that names its people everywhere it can."""
    ct = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>
<Default Extension="xml" ContentType="application/xml"/>
<Default Extension="jpeg" ContentType="image/jpeg"/>
<Override PartName="/word/document.xml" ContentType="{main_type}"/>
<Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>
<Override PartName="/docProps/app.xml" ContentType="application/vnd.openxmlformats-officedocument.extended-properties+xml"/>
<Override PartName="/docProps/custom.xml" ContentType="application/vnd.openxmlformats-officedocument.custom-properties+xml"/>
<Override PartName="/word/people.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.people+xml"/>
</Types>"""
    root_rels = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="{PKG}">
<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/>
<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties" Target="docProps/core.xml"/>
<Relationship Id="rId3" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/extended-properties" Target="docProps/app.xml"/>
<Relationship Id="rId4" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/custom-properties" Target="docProps/custom.xml"/>
<Relationship Id="rId5" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/thumbnail" Target="docProps/thumbnail.jpeg"/>
</Relationships>"""
    document = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:document xmlns:w="{W}" xmlns:r="{R}"><w:body>
<w:p w:rsidR="00CA1234" w:rsidRDefault="00CA1234"><w:r><w:t>Evidence text stays.</w:t></w:r>
<w:ins w:id="1" w:author="CanaryInserter" w:date="2026-01-02T03:04:05Z"><w:r><w:t>added</w:t></w:r></w:ins>
<w:del w:id="2" w:author="CanaryDeleter" w:date="2026-01-02T03:04:05Z"><w:r><w:delText>gone</w:delText></w:r></w:del>
<w:r><w:rPr><w:b/><w:rPrChange w:id="3" w:author="CanaryFormatter"><w:rPr/></w:rPrChange></w:rPr><w:t>bold</w:t></w:r>
<w:commentRangeStart w:id="0"/><w:r><w:t>commented</w:t></w:r><w:commentRangeEnd w:id="0"/>
<w:r><w:commentReference w:id="0"/></w:r>
</w:p></w:body></w:document>"""
    comments = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:comments xmlns:w="{W}"><w:comment w:id="0" w:author="CanaryCommenter" w:initials="CanaryCC" w:date="2026-01-02T03:04:05Z">
<w:p><w:r><w:t>Comment text stays.</w:t></w:r></w:p></w:comment></w:comments>"""
    people = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w15:people xmlns:w15="{W15}"><w15:person w15:author="CanaryPerson"><w15:presenceInfo w15:providerId="AD" w15:userId="S-1-5-21-Canary"/></w15:person></w15:people>"""
    settings = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:settings xmlns:w="{W}" xmlns:r="{R}"><w:attachedTemplate r:id="rId1"/><w:rsids><w:rsidRoot w:val="00CA1234"/></w:rsids></w:settings>"""
    settings_rels = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="{PKG}"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/attachedTemplate" Target="file:///C:\\Users\\CanaryUser\\Templates\\Normal.dotm" TargetMode="External"/></Relationships>"""
    doc_rels = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="{PKG}">
<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/comments" Target="comments.xml"/>
<Relationship Id="rId2" Type="http://schemas.microsoft.com/office/2011/relationships/people" Target="people.xml"/>
<Relationship Id="rId3" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/image" Target="media/image1.jpeg"/>
<Relationship Id="rId4" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/settings" Target="settings.xml"/>
</Relationships>"""
    core = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<dc:creator>CanaryCreator</dc:creator><cp:lastModifiedBy>CanaryEditor</cp:lastModifiedBy>
<dcterms:created xsi:type="dcterms:W3CDTF">2026-01-02T03:04:05Z</dcterms:created></cp:coreProperties>"""
    app = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties">
<Template>CanaryTemplate.dotm</Template><TotalTime>42</TotalTime><Pages>1</Pages>
<Company>CanaryCompany</Company><Manager>CanaryManager</Manager></Properties>"""
    custom = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/custom-properties"><property name="CanaryCustom"/></Properties>"""
    return {
        "[Content_Types].xml": ct.encode(),
        "_rels/.rels": root_rels.encode(),
        "word/document.xml": document.encode(),
        "word/comments.xml": comments.encode(),
        "word/people.xml": people.encode(),
        "word/settings.xml": settings.encode(),
        "word/_rels/settings.xml.rels": settings_rels.encode(),
        "word/_rels/document.xml.rels": doc_rels.encode(),
        "word/media/image1.jpeg": camera_jpeg(),
        "word/media/image2.png": tagged_png(),
        "docProps/core.xml": core.encode(),
        "docProps/app.xml": app.encode(),
        "docProps/custom.xml": custom.encode(),
        "docProps/thumbnail.jpeg": camera_jpeg(),
    }


def zipped(parts: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    return out.getvalue()


def unzipped(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def ffmpeg_output(args: list[str], muxer: str, pass_fds: tuple[int, ...] = ()) -> bytes:
    """Run ffmpeg with lavfi sources into a memory file (nothing written to disk)."""
    ffmpeg = shutil.which("ffmpeg")
    assert ffmpeg is not None
    with memory_file("sample") as fd:
        subprocess.run(
            [ffmpeg, "-nostdin", "-loglevel", "error", *args, "-f", muxer, "-y", f"/dev/fd/{fd}"],
            pass_fds=(fd, *pass_fds),
            check=True,
        )
        return read_all(fd)


TAGS = ["-metadata", "title=CanaryTitle", "-metadata", "artist=CanaryArtist"]


def tagged_mp4(muxer: str = "mp4") -> bytes:
    """One second of video and sound with title, artist and a location (MP4 writes a
    3GPP "loci" box, QuickTime a "©xyz" atom)."""
    return ffmpeg_output(
        [
            *("-f", "lavfi", "-i", "testsrc=duration=1:size=160x120:rate=10"),
            *("-f", "lavfi", "-i", "sine=duration=1", "-c:v", "mpeg4", "-c:a", "aac"),
            *TAGS,
            *("-metadata", "location=+51.5012-000.1419/", "-metadata:s:v", "title=CanaryStream"),
        ],
        muxer,
    )


def tagged_mp3() -> bytes:
    return ffmpeg_output(
        ["-f", "lavfi", "-i", "sine=duration=1", "-c:a", "libmp3lame", *TAGS], "mp3"
    )


XLSX_MAIN = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
PPTX_MAIN = "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml"
SML = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


def xlsx_parts() -> dict[str, bytes]:
    """A workbook whose legacy comments, threaded-comment persons and saved path name people."""
    ct = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
<Default Extension="xml" ContentType="application/xml"/>
<Override PartName="/xl/workbook.xml" ContentType="{XLSX_MAIN}"/></Types>"""
    workbook = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<workbook xmlns="{SML}" xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006" xmlns:x15ac="http://schemas.microsoft.com/office/spreadsheetml/2010/11/ac">
<mc:AlternateContent><mc:Choice Requires="x15"><x15ac:absPath url="C:\\Users\\CanaryUser\\Desktop\\"/></mc:Choice></mc:AlternateContent>
<sheets><sheet name="Payments" sheetId="1"/></sheets></workbook>"""
    comments = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<comments xmlns="{SML}"><authors><author>CanaryExcelAuthor</author></authors>
<commentList><comment ref="A1" authorId="0"><text><t>Cell note stays.</t></text></comment></commentList></comments>"""
    persons = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<personList xmlns="http://schemas.microsoft.com/office/spreadsheetml/2018/threadedcomments"><person displayName="CanaryPerson" id="{1}" userId="canary@example.org" providerId="AD"/></personList>"""
    return {
        "[Content_Types].xml": ct.encode(),
        "xl/workbook.xml": workbook.encode(),
        "xl/comments1.xml": comments.encode(),
        "xl/persons/person.xml": persons.encode(),
    }


def pptx_parts() -> dict[str, bytes]:
    """A presentation whose comment authors are named."""
    ct = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
<Default Extension="xml" ContentType="application/xml"/>
<Override PartName="/ppt/presentation.xml" ContentType="{PPTX_MAIN}"/></Types>"""
    authors = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<p:cmAuthorLst xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main"><p:cmAuthor id="1" name="CanaryPresenter" initials="CanaryCP" lastIdx="1" clrIdx="0"/></p:cmAuthorLst>"""
    presentation = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<p:presentation xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main"/>"""
    return {
        "[Content_Types].xml": ct.encode(),
        "ppt/presentation.xml": presentation.encode(),
        "ppt/commentAuthors.xml": authors.encode(),
    }


ODT = "application/vnd.oasis.opendocument.text"


def odt_parts(macro: bool = False, encrypted: bool = False) -> dict[str, bytes]:
    """A text document whose metadata, tracked change, comment and printer name it carries."""
    ns = (
        'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:meta="urn:oasis:names:tc:opendocument:xmlns:meta:1.0" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
        'xmlns:config="urn:oasis:names:tc:opendocument:xmlns:config:1.0"'
    )
    encryption = '<manifest:encryption-data manifest:checksum="x"/>' if encrypted else ""
    manifest = f"""<?xml version="1.0" encoding="UTF-8"?>
<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0">
<manifest:file-entry manifest:full-path="/" manifest:media-type="{ODT}"/>
<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml">{encryption}</manifest:file-entry>
<manifest:file-entry manifest:full-path="Thumbnails/thumbnail.png" manifest:media-type="image/png"/>
</manifest:manifest>"""
    meta = f"""<?xml version="1.0" encoding="UTF-8"?>
<office:document-meta {ns}><office:meta>
<meta:initial-creator>CanaryInitialCreator</meta:initial-creator><dc:creator>CanaryCreator</dc:creator>
<meta:creation-date>2026-01-02T03:04:05</meta:creation-date><meta:editing-duration>PT1H</meta:editing-duration>
<meta:generator>CanaryGenerator</meta:generator><meta:user-defined meta:name="Canary">x</meta:user-defined>
<meta:document-statistic meta:page-count="1"/></office:meta></office:document-meta>"""
    content = f"""<?xml version="1.0" encoding="UTF-8"?>
<office:document-content {ns}><office:body><office:text>
<text:tracked-changes><text:changed-region text:id="ct1"><text:insertion><office:change-info>
<dc:creator>CanaryChanger</dc:creator><dc:date>2026-01-02T03:04:05</dc:date></office:change-info>
</text:insertion></text:changed-region></text:tracked-changes>
<text:p>Evidence text stays.<office:annotation><dc:creator>CanaryCommenter</dc:creator>
<meta:creator-initials>CanaryCC</meta:creator-initials><text:p>Note stays.</text:p></office:annotation></text:p>
</office:text></office:body></office:document-content>"""
    settings = f"""<?xml version="1.0" encoding="UTF-8"?>
<office:document-settings {ns}><office:settings><config:config-item-set config:name="ooo:configuration-settings">
<config:config-item config:name="PrinterName" config:type="string">CanaryPrinter</config:config-item>
</config:config-item-set></office:settings></office:document-settings>"""
    parts = {
        "mimetype": ODT.encode(),
        "META-INF/manifest.xml": manifest.encode(),
        "meta.xml": meta.encode(),
        "content.xml": content.encode(),
        "settings.xml": settings.encode(),
        "Thumbnails/thumbnail.png": tagged_png(),
        "Pictures/photo.jpg": camera_jpeg(),
    }
    if macro:
        parts["Basic/Standard/Module1.xml"] = b"<module/>"
    return parts
