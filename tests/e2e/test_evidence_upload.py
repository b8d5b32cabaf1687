"""Evidence files with JavaScript on: sent ahead in chunks, with progress, then the form.

A reporter attaches a photo (with GPS in its EXIF) and a text file, watches
them go, and gets a receipt saying what was removed; the supervisor opens the
photo's page and its preview loads. A file over the per-file limit is refused
in the page before anything is sent; a refusal from the server is shown by
the slot, with the form kept; a file already sent survives a typing mistake.
The evidence fieldset passes axe-core with JavaScript on and off.
"""

from __future__ import annotations

import io
import random
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image
from playwright.sync_api import FilePayload, Page

from reportline.services.cases import reference
from tests.conftest import BACKENDS, empty_postgres
from tests.e2e.browser import Browsing, assert_accessible
from tests.e2e.site import LiveSite, running_site
from tests.e2e.steps import fill_report, follow_up_with, sign_in, submit
from tests.unit.cleaning_samples import camera_exif

pytestmark = pytest.mark.e2e

FILE_LIMIT = 4 * 1024 * 1024
REPORT_BUTTON = "main form button[type=submit]"
# Records what the evidence script says and shows, across page loads (the binding and
# the init script come through the debugger: the page's CSP allows no inline script).
WATCH_PROGRESS = """
document.addEventListener("DOMContentLoaded", () => {
  const status = document.querySelector("[data-evidence-status]");
  if (!status) { return; }
  new MutationObserver(() => window.noteEvidence("status", status.textContent))
    .observe(status, {childList: true, characterData: true, subtree: true});
  new MutationObserver(records => records.forEach(({target}) =>
      window.noteEvidence(target.tagName.toLowerCase(), target.getAttribute("value"))))
    .observe(document.querySelector("[data-evidence]"),
             {attributes: true, attributeFilter: ["value"], subtree: true});
});
"""


@pytest.fixture(scope="module", params=BACKENDS)
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveSite]:
    """A site whose files may be up to 4 MB each, on every database the suite covers."""
    database_url = None
    if request.param == "postgresql":
        database_url = str(request.getfixturevalue("postgres_url"))
        empty_postgres(database_url)
    with running_site(
        tmp_path_factory.mktemp("instance"), database_url, evidence_file_max_bytes=FILE_LIMIT
    ) as live:
        yield live


def camera_photo() -> FilePayload:
    """A ~3 MB JPEG of noise with GPS, make and model in its EXIF."""
    width, height = 1800, 1450
    noise = random.Random(14).randbytes(width * height * 3)
    out = io.BytesIO()
    Image.frombytes("RGB", (width, height), noise).save(out, "JPEG", quality=95, exif=camera_exif())
    return {"name": "IMG_2231.jpg", "mimeType": "image/jpeg", "buffer": out.getvalue()}


def text_file(name: str = "messages.txt", size: int = 2_000) -> FilePayload:
    """A plain text file of `size` bytes."""
    line = b"Sgt: delete the chat before Monday.\n"
    return {
        "name": name,
        "mimeType": "text/plain",
        "buffer": (line * (size // len(line) + 1))[:size],
    }


def watch_evidence(page: Page) -> list[tuple[str, str]]:
    """Everything the evidence script says in the status line or shows in a progress bar."""
    seen: list[tuple[str, str]] = []
    page.expose_function("noteEvidence", lambda what, value: seen.append((what, value)))
    page.add_init_script(WATCH_PROGRESS)
    return seen


def chunk_posts(site: LiveSite) -> list[int]:
    """The statuses of the chunks the app received since the recorder was cleared."""
    return [hit.status for hit in site.recorder.hits() if hit.endpoint == "reporter.upload_chunk"]


def said(page: Page, selector: str) -> str:
    """An element's text as a screen reader reads it (visually hidden parts included)."""
    return " ".join((page.locator(selector).text_content() or "").split())


def attach(page: Page, slot: int, file: FilePayload, description: str = "") -> None:
    page.set_input_files(f"#evidence-{slot}-file", file)
    if description:
        page.fill(f"#evidence-{slot}-description", description)


def test_a_photo_and_a_text_file_go_ahead_in_chunks_and_the_officer_sees_the_preview(
    browsing: Browsing, site: LiveSite
) -> None:
    page = browsing.new_page()
    seen = watch_evidence(page)
    report_bodies: list[int] = []
    page.on(
        "request",
        lambda r: (
            report_bodies.append(len(r.post_data_buffer or b""))
            if r.method == "POST" and r.url.endswith("/report")
            else None
        ),
    )
    page.goto("/report")
    assert page.locator("[data-evidence-limit-js]").inner_text() == "Each file can be up to 4 MB."
    assert page.locator("[data-evidence-limit-nojs]").is_hidden()
    fill_report(page, what_happened="He told the team to delete the chat.")
    attach(page, 0, camera_photo(), "The chat on his phone")
    attach(page, 1, text_file(), "What he wrote")
    site.recorder.clear()

    submit(page)

    assert page.locator("h1").inner_text() == "Your report has been sent"
    cleaned = page.locator("#files-cleaned li").all_inner_texts()
    assert len(cleaned) == 2 and cleaned[0].startswith("IMG_2231.jpg: removed")
    assert "location (GPS)" in cleaned[0] and cleaned[1].startswith("messages.txt")
    statuses = [value for what, value in seen if what == "status"]
    assert "Sending file 1 of 2: 0%" in statuses and "Sending file 2 of 2: 100%" in statuses
    assert any(f"Sending file 1 of 2: {n}%" in statuses for n in range(1, 100))
    assert statuses[-1] == "Files sent. Sending the form."
    photo_bar = [int(value) for what, value in seen if what == "progress"]
    assert photo_bar and max(photo_bar) == 100
    assert len(chunk_posts(site)) >= 7 and set(chunk_posts(site)) == {200}
    assert report_bodies and max(report_bodies) < 100_000  # the files did not travel again

    receipt = " ".join(page.locator("#receipt li").all_inner_texts())
    officer = browsing.new_page()
    sign_in(officer, site, site.supervisor)
    officer.goto(f"/triage/cases/{reference(site.case_id(receipt))}/evidence/1")
    assert officer.locator("h1").inner_text() == "IMG_2231.jpg"
    assert "location (GPS)" in officer.locator("main .summary-list").inner_text()
    officer.wait_for_function(
        "() => { const img = document.querySelector('.evidence-preview img');"
        " return img && img.complete && img.naturalWidth > 0; }"
    )


def test_a_file_over_the_limit_is_refused_in_the_page_before_anything_is_sent(
    browsing: Browsing, site: LiveSite
) -> None:
    page = browsing.new_page()
    page.goto("/report")
    fill_report(page, what_happened="Sold custody images to a journalist.")
    attach(page, 0, text_file("calls.txt"), "Call log")
    attach(page, 1, text_file("recording.txt", FILE_LIMIT + 1), "A long recording")
    site.recorder.clear()

    page.click(REPORT_BUTTON)

    message = "This file is larger than 4 MB, the most one file can be."
    assert said(page, "#evidence-1-error") == f"Error: {message}"
    assert page.locator("[data-evidence-status]").inner_text() == f"File 2: {message}"
    assert page.locator("#evidence-1-file").get_attribute("aria-describedby") == "evidence-1-error"
    assert page.evaluate("document.activeElement.id") == "evidence-1-file"
    assert page.locator("#what_happened").input_value() == "Sold custody images to a journalist."
    assert page.locator("#evidence-1-description").input_value() == "A long recording"
    assert page.locator(REPORT_BUTTON).is_enabled()
    assert site.recorder.hits() == []  # no chunk, no form


def test_a_refusal_from_the_server_is_shown_by_its_file_and_the_form_kept(
    browsing: Browsing, site: LiveSite
) -> None:
    page = browsing.new_page()
    page.goto("/report")
    fill_report(page, what_happened="Took cash from a seized vehicle.")
    attach(page, 0, text_file("ledger.txt", FILE_LIMIT + 1))
    # As if the page's limit were out of date: the server refuses part-way through.
    page.locator("[data-evidence]").evaluate("(set) => set.dataset.fileBytes = '99999999'")
    site.recorder.clear()

    page.click(REPORT_BUTTON)

    error = page.locator("#evidence-0-error")
    error.wait_for()
    assert said(page, "#evidence-0-error") == (
        "Error: This file is larger than 4 MB, the most one file can be."
    )
    # Nothing marks the file as sent: it is still chosen, and no token travels with the form.
    assert page.locator("input[name=evidence-0-upload]").count() == 0
    assert page.locator("#evidence-0-file").evaluate("(input) => input.files.length") == 1
    assert page.locator(REPORT_BUTTON).is_enabled()
    assert page.locator("#what_happened").input_value() == "Took cash from a seized vehicle."
    assert chunk_posts(site)[-1] == 413
    assert not any(hit.endpoint == "reporter.report" for hit in site.recorder.hits())


def test_a_file_already_sent_survives_a_typing_mistake_without_being_sent_again(
    browsing: Browsing, site: LiveSite
) -> None:
    page = browsing.new_page()
    page.goto("/report")
    fill_report(page, what_happened="Warned a suspect about a raid.")
    page.locator("input[name=category]").evaluate_all(
        "(all) => all.forEach(r => r.checked = false)"
    )
    attach(page, 0, text_file("texts.txt"), "His texts")

    submit(page)

    assert page.locator("#evidence-0-sent").inner_text() == (
        "Already sent: texts.txt. Choose another file to send that instead."
    )
    page.check("input[name=category][value=corruption]")
    site.recorder.clear()
    submit(page)
    assert page.locator("h1").inner_text() == "Your report has been sent"
    assert page.locator("#files-cleaned li").all_inner_texts()[0].startswith("texts.txt")
    assert chunk_posts(site) == []


def test_another_file_slot_is_added_up_to_the_most_a_form_takes(browsing: Browsing) -> None:
    page = browsing.new_page()
    page.goto("/report")
    add = page.get_by_role("button", name="Add another file")

    add.click()

    assert page.locator("label[for=evidence-3-file]").inner_text() == "File 4"
    assert page.locator("label[for=evidence-3-description]").inner_text() == (
        "What does file 4 show? (optional)"
    )
    assert page.evaluate("document.activeElement.id") == "evidence-3-file"
    while add.is_visible():
        add.click()
    assert page.locator("[data-evidence-slot]").count() == 10


def test_a_reply_carries_a_file_sent_ahead(browsing: Browsing, site: LiveSite) -> None:
    receipt = site.submit_report(what_happened="Leaked a witness statement.")
    page = browsing.new_page()
    follow_up_with(page, receipt)
    page.fill("#message", "Here is the statement he sent.")
    attach(page, 0, text_file("statement.txt"), "The statement")
    site.recorder.clear()

    submit(page, "main form[action$='/follow-up/case']")

    assert "Your message has been sent to the unit." in page.locator("main").inner_text()
    assert chunk_posts(site) == [200]


def reach_report_form(page: Page, site: LiveSite) -> None:
    page.goto("/report")


def reach_reply_form(page: Page, site: LiveSite) -> None:
    follow_up_with(page, site.submit_report(what_happened="Shared PNC results."))


FORMS: dict[str, Any] = {"report form": reach_report_form, "follow-up page": reach_reply_form}


@pytest.mark.parametrize("javascript", [True, False], ids=["javascript", "no-javascript"])
@pytest.mark.parametrize("form", FORMS)
def test_evidence_fieldset_passes_axe(
    form: str, javascript: bool, browsing: Browsing, site: LiveSite, axe: str
) -> None:
    page = browsing.new_page()
    if not javascript:
        # The page as a browser without JavaScript shows it; axe-core itself still runs.
        page.route("**/static/js/*.js", lambda route: route.abort())
    FORMS[form](page, site)
    where = f"the {form} with JavaScript {'on' if javascript else 'off'}"

    assert page.locator("[data-evidence-add]").count() == (1 if javascript else 0)
    assert_accessible(page, axe, where)
    if javascript:
        page.get_by_role("button", name="Add another file").click()
        attach(page, 3, text_file("big.txt", FILE_LIMIT + 1))
        page.click("main form button[type=submit]")
        page.locator("#evidence-3-error").wait_for()
        assert_accessible(page, axe, f"{where}, a slot added and a file refused")
