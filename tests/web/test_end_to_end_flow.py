"""A report travels from the form to an officer's screen (test client, real database)."""

from __future__ import annotations

import re

from flask.testing import FlaskClient

from tests.helpers import submit_report


def test_submitted_report_appears_decrypted_in_the_supervisors_queue_and_case(
    reporter: FlaskClient, supervisor: FlaskClient
) -> None:
    submit_report(
        reporter,
        what_happened="He shared a racist meme in the shift chat.",
        category="discrimination",
    )

    queue = supervisor.get("/triage/").get_data(as_text=True)
    assert "Discriminatory or offensive messages or behaviour" in queue
    reference = re.search(r"RL-[0-9A-Z]{4}-[0-9A-Z]{4}", queue)
    assert reference

    case = supervisor.get(f"/triage/cases/{reference.group(0)}").get_data(as_text=True)
    assert "He shared a racist meme in the shift chat." in case
