"""Evidence in Chromium with JavaScript off: a reporter attaches a photo in the form's own
body; the supervisor sees it cleaned, previews it and downloads a sanitised hand-over
whose PDF reads back."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from pypdf import PdfReader

from reportline.services.cases import reference
from tests.conftest import BACKENDS, empty_postgres
from tests.e2e.browser import Browsing
from tests.e2e.site import LiveSite, running_site
from tests.e2e.test_journeys import open_case, sign_in
from tests.unit.cleaning_samples import camera_jpeg

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module", params=BACKENDS)
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveSite]:
    """A live site on every database the suite covers."""
    database_url = None
    if request.param == "postgresql":
        database_url = str(request.getfixturevalue("postgres_url"))
        empty_postgres(database_url)
    with running_site(tmp_path_factory.mktemp("instance"), database_url) as live:
        yield live


def test_a_photo_sent_without_javascript_is_previewed_cleaned_and_handed_over(
    browsing: Browsing, site: LiveSite, tmp_path: Path
) -> None:
    photo = tmp_path / "IMG_0042.jpg"
    photo.write_bytes(camera_jpeg(size=(640, 480)))
    reporter = browsing.new_page(javascript=False)
    reporter.goto("/report")
    reporter.check("input[name=category][value=discrimination]")
    reporter.fill("#what_happened", "He posted a racist meme in the C shift group chat.")
    reporter.check("input[name=how_known][value=saw_or_heard]")
    reporter.check("input[name=at_risk][value=no]")
    reporter.set_input_files("#evidence-0-file", str(photo))
    reporter.fill("#evidence-0-description", "Screenshot of the meme")
    with reporter.expect_navigation():
        reporter.locator("main form button[type=submit]").first.click()
    assert reporter.locator("h1").inner_text() == "Your report has been sent"
    cleaned = reporter.locator("#files-cleaned").inner_text()
    assert "IMG_0042.jpg" in cleaned and "location (GPS)" in cleaned
    receipt = " ".join(reporter.locator("#receipt li").all_inner_texts())
    case_reference = reference(site.case_id(receipt))

    officer = browsing.new_page(javascript=False)
    sign_in(officer, site, site.supervisor)
    open_case(officer, case_reference)
    officer.locator("a[href$='/evidence/1']").first.click()
    preview = officer.locator("figure img")
    preview.wait_for()
    officer.wait_for_function("document.querySelector('figure img').naturalWidth > 0")
    assert "location (GPS)" in officer.locator("main").inner_text()

    officer.goto(f"/triage/cases/{case_reference}")
    with officer.expect_download() as download_info:
        officer.locator("form[action$='/export'] button[type=submit]").click()
    archive = zipfile.ZipFile(download_info.value.path())
    names = archive.namelist()
    assert any(name.startswith("evidence/") and name.endswith(".jpg") for name in names)
    (summary,) = [name for name in names if name.endswith(".pdf")]
    text = "".join(
        page.extract_text() for page in PdfReader(io.BytesIO(archive.read(summary))).pages
    )
    assert case_reference in text and "Left out of this export" in text
