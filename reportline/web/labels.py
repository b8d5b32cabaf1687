"""Words people read for the codes the services use (translated lazily)."""

from __future__ import annotations

from flask import Flask
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext

CATEGORY = {
    "discrimination": _l("Discriminatory or offensive messages or behaviour"),
    "sexual_misconduct": _l("Sexual misconduct, or abuse of position for a sexual purpose"),
    "bullying": _l("Bullying or harassment"),
    "corruption": _l("Corruption, bribery, or misuse of police information or systems"),
    "dishonesty": _l("Dishonesty or fraud"),
    "drugs_criminal_associations": _l("Drugs or criminal associations"),
    "other": _l("Something else"),
}
CATEGORY_HINT = {
    "discrimination": _l(
        "For example racist, sexist, homophobic or disablist messages, jokes "
        "or remarks, in person or in group chats."
    ),
    "sexual_misconduct": _l(
        "For example using a role to pursue a sexual or improper emotional "
        "relationship with a victim, witness or colleague."
    ),
    "bullying": _l("Behaviour that intimidates, humiliates or undermines someone."),
    "corruption": _l(
        "For example looking up records without a policing purpose, leaking "
        "information, or accepting gifts or favours."
    ),
    "dishonesty": _l("For example false statements, fiddled expenses or overtime."),
    "drugs_criminal_associations": _l("Drug use or supply, or links to people involved in crime."),
    "other": _l("Anything else you think is wrong."),
}
HOW_KNOWN = {
    "saw_or_heard": _l("I saw or heard it myself"),
    "told": _l("Someone told me about it"),
    "documents": _l("I have seen messages, records or documents"),
    "other": _l("Another way"),
}
# Context: Welsh answers "is anyone at risk?" with its own verb (Oes / Nac oes).
AT_RISK = {
    "yes": lazy_pgettext("anyone at risk", "Yes"),
    "no": lazy_pgettext("anyone at risk", "No"),
    "not_sure": _l("I'm not sure"),
}
STATUS = {
    "received": _l("Received"),
    "acknowledged": _l("Acknowledged"),
    "assessing": _l("Being assessed"),
    "investigating": _l("Under investigation"),
    "referred": _l("Referred"),
    "closed": _l("Closed"),
}
STATUS_EXPLAINED = {
    "received": _l("Your report has arrived safely and is waiting for an officer to read it."),
    "acknowledged": _l("An officer has read your report and confirmed that the unit has it."),
    "assessing": _l("The unit is deciding what needs to happen next."),
    "investigating": _l("The unit is investigating what you reported."),
    "referred": _l("Your report has been passed to the right team to deal with."),
    "closed": _l("The unit has finished its work on your report."),
}
# Status tag colours (CSS modifier classes) for the queue and case pages.
STATUS_TAG = {
    "received": "tag--blue",
    "acknowledged": "tag--turquoise",
    "assessing": "tag--purple",
    "investigating": "tag--orange",
    "referred": "tag--grey",
    "closed": "tag--grey",
}
# What each failed check means, for the case page.
FAULTS = {
    "CASE_KEY": _l("The case's sealed key does not open, so nothing of it can be read."),
    "REPORT": _l("The report itself was changed."),
    "PUBLIC_KEYS": _l("A key of the case was replaced."),
    "STATE": _l("Its status, dates or counts were changed outside ReportLine."),
    "MESSAGES": _l("A message was changed, removed or added."),
    "HISTORY": _l("Its status history was changed."),
    # Officer pages are in English: new officer-only text is not marked for translation.
    "RECORD": "Its triage record was changed, or a version of it removed or added.",
    "NOTES": "A note was changed, removed or added.",
    "EVIDENCE": "An evidence file was changed, removed or added, or part of it is missing.",
}
# Why a file was refused (reportline.cleaning.RefusalReason, by name).
FILE_REFUSED = {
    "EMPTY": _l("This file is empty. Choose the file again, or another one."),
    "TYPE_NOT_ALLOWED": _l(
        "This kind of file cannot be sent. Send a picture (JPEG, PNG, WebP, HEIC), a PDF, "
        "a Word, Excel or PowerPoint document, plain text, or a common audio or video file."
    ),
    "TOO_LARGE": _l("This file is too large to be sent."),
    "TOO_MANY_PIXELS": _l(
        "This picture is too large to be cleaned. Send a smaller version or a screenshot of it."
    ),
    "DECOMPRESSION_BOMB": _l(
        "This file unpacks to far more than it seems, so it cannot be taken. Send it another way, "
        "for example as a PDF."
    ),
    "MACRO_DOCUMENT": _l(
        "Documents with macros cannot be sent. Save it without macros (as .docx, .xlsx or "
        ".pptx) or as a PDF, and send that."
    ),
    "LEGACY_OFFICE": _l(
        "Old Office files (.doc, .xls, .ppt) cannot be cleaned. Save it as .docx, .xlsx, "
        ".pptx or a PDF, and send that."
    ),
    "MALWARE": _l("This file looks harmful, so it was not taken."),
    "UNREADABLE": _l(
        "This file could not be read: it may be damaged or protected by a password. Send a "
        "copy without a password, or a screenshot of it."
    ),
    "CANNOT_CLEAN": _l("This server cannot clean this kind of file, so it cannot be sent here."),
}
# What cleaning removed from a file (reportline.cleaning.REMOVED_LABELS, by code).
REMOVED = {
    "location": _l("location (GPS)"),
    "camera": _l("camera or phone make, model and serial number"),
    "exif": _l("other camera details (dates, settings, software)"),
    "xmp": _l("hidden XMP details"),
    "colour-profile": _l("colour profile"),
    "thumbnail": _l("hidden thumbnail"),
    "comment": _l("hidden comments"),
    "text-fields": _l("hidden text fields"),
    "later-frames": _l("frames after the first of an animation"),
    "document-info": _l("document details such as title and software"),
    "document-id": _l("document identifiers"),
    "author": _l("author and last editor names"),
    "company": _l("company and manager names"),
    "custom-properties": _l("custom document details"),
    "comment-authors": _l("names of people who commented"),
    "tracked-change-authors": _l("names of people who made tracked changes"),
    "edit-times": _l("dates and editing times"),
    "revision-ids": _l("editing session identifiers"),
    "file-paths": _l("file paths, which can hold user names"),
    "image-metadata": _l("hidden details of pictures inside the document"),
    "annotation-authors": _l("names of people who annotated it"),
    "scripts": _l("scripts and automatic actions"),
    "attachments": _l("files attached inside it"),
    "tags": _l("tags such as title, artist and date"),
    "chapters": _l("chapter titles"),
    "cover-art": _l("cover picture"),
    "extra-streams": _l("subtitle and data tracks, such as GPS tracks"),
}


def refusal_message(reason: object, fallback: str) -> str:
    """What a reporter is told when a file is refused (`fallback`: the cleaner's words)."""
    label = FILE_REFUSED.get(getattr(reason, "name", ""))
    return str(label) if label is not None else fallback


def removed_labels(codes: tuple[str, ...] | list[str]) -> list[str]:
    """What was removed, in words, for codes this version knows."""
    return [str(REMOVED[code]) for code in codes if code in REMOVED]


REPORT_FIELDS = (
    ("what_happened", _l("What happened")),
    ("when", _l("When it happened")),
    ("where", _l("Where it happened")),
    ("who_involved", _l("Who is involved")),
    ("how_known_detail", _l("More about how they know")),
    ("at_risk_detail", _l("Who is at risk, and how")),
    # Officer pages are in English: new officer-only text is not marked for translation.
    ("exclude", "Who the reporter asked should not see this report"),
)


def grouped(text: str, size: int = 4) -> str:
    """Text in groups of `size` characters, easier to read aloud (key fingerprints)."""
    return " ".join(text[i : i + size] for i in range(0, len(text), size))


def dict_without_none(values: dict[str, object]) -> dict[str, object]:
    """The entries of `values` that are set (for HTML attributes: None would print)."""
    return {name: value for name, value in values.items() if value is not None and value != ""}


def register(app: Flask) -> None:
    """Make the label tables available to every template."""
    app.jinja_env.filters["grouped"] = grouped
    app.jinja_env.filters["dict_without_none"] = dict_without_none
    app.jinja_env.filters["removed_labels"] = removed_labels
    app.jinja_env.globals.update(
        CATEGORY=CATEGORY,
        HOW_KNOWN=HOW_KNOWN,
        AT_RISK=AT_RISK,
        STATUS=STATUS,
        STATUS_EXPLAINED=STATUS_EXPLAINED,
        STATUS_TAG=STATUS_TAG,
        REPORT_FIELDS=REPORT_FIELDS,
        CATEGORY_HINT=CATEGORY_HINT,
        FAULTS=FAULTS,
    )
