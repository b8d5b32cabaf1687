"""The report's questions are defined once, in `reportline.services.submissions`; the
form, the labels and the case page must ask and show exactly those."""

from __future__ import annotations

from wtforms.fields.core import UnboundField
from wtforms.validators import Length

from reportline.services import submissions
from reportline.web import labels
from reportline.web.reporter.forms import ReportForm

# Form fields that are not answers to a question.
NOT_QUESTIONS = {"submission", "homepage", "proof"}


def _form_fields() -> dict[str, UnboundField]:
    return {
        name: value
        for name in dir(ReportForm)
        if isinstance(value := getattr(ReportForm, name), UnboundField)
    }


def test_the_form_asks_exactly_the_reports_questions() -> None:
    assert set(_form_fields()) - NOT_QUESTIONS == set(submissions.REPORT_FIELDS)


def test_every_free_text_answer_has_the_services_limit_on_the_form() -> None:
    for name, limit in submissions.FIELD_LIMITS.items():
        lengths = [v for v in _form_fields()[name].kwargs["validators"] if isinstance(v, Length)]
        assert [v.max for v in lengths] == [limit], name


def test_every_answer_with_choices_has_a_label_for_each_choice_and_no_other() -> None:
    tables = {"category": labels.CATEGORY, "how_known": labels.HOW_KNOWN, "at_risk": labels.AT_RISK}
    assert set(tables) == set(submissions.CHOICES)
    for name, allowed in submissions.CHOICES.items():
        assert tuple(tables[name]) == allowed, name
    assert tuple(labels.CATEGORY_HINT) == submissions.CATEGORIES


def test_the_case_page_shows_every_free_text_answer() -> None:
    assert [name for name, _label in labels.REPORT_FIELDS] == list(submissions.FIELD_LIMITS)


def test_every_question_is_either_a_choice_or_free_text() -> None:
    assert set(submissions.REPORT_FIELDS) == set(submissions.CHOICES) | set(
        submissions.FIELD_LIMITS
    )
