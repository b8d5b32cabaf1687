"""The queue's filter form: GET, so a view lives in its URL and can be bookmarked.

Officer pages are in English: new labels are not marked for translation (those of the
status views were, before the filters came, and keep their Welsh entries).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from threading import Lock
from typing import Any

from flask import render_template, request
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from wtforms import SelectField, ValidationError

from reportline.services.queue_filters import (
    DUE_FILTERS,
    MINE,
    PRIORITY_FILTERS,
    REPLY_FILTERS,
    SORTS,
    UNASSIGNED,
    VIEWS,
    QueueFilters,
    category_code,
)
from reportline.services.triage_record import RISK_FLAGS
from reportline.web.forms import Form, choices
from reportline.web.labels import STATUS

ANY = {"": "Any"}
ASSIGNEES = {"": "Anyone", MINE: "Me", UNASSIGNED: "Unassigned"}  # and each officer


class FilterField(SelectField):
    """A select whose unknown value is refused in the field's own words (WTForms' "Not a
    valid choice" names nothing)."""

    def __init__(self, *args: Any, problem: str, **kwargs: Any) -> None:
        super().__init__(*args, validate_choice=False, **kwargs)
        self.problem = problem

    def pre_validate(self, form: Any) -> None:
        """Refuse a value that is not one of the choices."""
        if self.data not in {choice.value for choice in self.choices or []}:
            raise ValidationError(self.problem)


def _select(label: str, options: dict[str, Any], problem: str, default: str = "") -> Any:
    return FilterField(label, choices=choices(options), default=default, problem=problem)


def _labelled(codes: Iterable[str], labels: dict[str, Any], first: str = "") -> dict[str, Any]:
    """The service's codes, in its order, each with its label (a code without one fails
    at import); `first` adds "any" as an empty code."""
    return {**({"": first} if first else {}), **{code: labels[code] for code in codes}}


class QueueFilterForm(Form):
    """Which cases the queue shows and in what order (no CSRF token: it changes nothing).

    An unknown value is refused next to its field; an empty one means "any".
    """

    class Meta(Form.Meta):
        csrf = False

    status = _select(
        _l("Show"),
        _labelled(
            VIEWS,
            {
                "open": _l("Open cases and new replies"),
                **STATUS,
                "all": _l("Everything"),
                "flood": _l("Possible flood"),
            },
        ),
        problem="Choose a status from the list",
        default="open",
    )
    priority = _select(
        "Priority",
        _labelled(
            PRIORITY_FILTERS,
            {"high": "High", "medium": "Medium", "low": "Low", "none": "Not set"},
            "Any",
        ),
        problem="Choose a priority from the list",
    )
    assignee = _select(
        "Assigned to", ASSIGNEES, problem="Choose who the cases are assigned to from the list"
    )
    category = _select("National category", ANY, problem="Choose a national category from the list")
    flag = _select(
        "Risk flag",
        _labelled(RISK_FLAGS, RISK_FLAGS, "Any"),
        problem="Choose a risk flag from the list",
    )
    due = _select(
        "Deadline",
        _labelled(DUE_FILTERS, {"overdue": "Overdue", "due_soon": "Due soon"}, "Any"),
        problem="Choose overdue or due soon",
    )
    replies = _select(
        "Replies",
        _labelled(REPLY_FILTERS, {"unread": "Unread replies"}, "Any"),
        problem="Choose unread replies or any",
    )
    sort = _select(
        "Sort by",
        _labelled(
            SORTS,
            {
                "received": "Date received, newest first",
                "due": "Next deadline, soonest first",
                "priority": "Priority, high first",
            },
        ),
        problem="Choose how to sort from the list",
        default="received",
    )

    def __init__(
        self, officers: list[tuple[int, str]], categories: tuple[str, ...], **kwargs: Any
    ) -> None:
        super().__init__(formdata=request.args, **kwargs)
        self.assignee.choices = choices({**ASSIGNEES, **{str(i): e for i, e in officers}})
        self.category.choices = choices({**ANY, **{category_code(n): n for n in categories}})

    def view(self) -> QueueFilters:
        """The view the form describes (after `validate`)."""
        return QueueFilters(
            status=self.status.data or "open",
            priority=self.priority.data or "",
            assignee=self.assignee.data or "",
            category=self.category.data or "",
            flag=self.flag.data or "",
            due=self.due.data or "",
            replies=self.replies.data or "",
            sort=self.sort.data or "received",
        )


_RENDERED: OrderedDict[tuple[Any, ...], Markup] = OrderedDict()
_RENDERED_LOCK = Lock()
_RENDERED_KEEP = 256


def _render(form: QueueFilterForm) -> Markup:
    # The output of an autoescaping template: already safe HTML.
    return Markup(render_template("components/queue_filters.html", form=form))  # noqa: S704  # nosec B704


def rendered_filters(form: QueueFilterForm) -> Markup:
    """The form's fields as HTML, remembered by what they show (each field's value and
    choices, and the language): a GET form carries no token, and eight menus with sixty
    options took WTForms a tenth of a queue page to draw. A form with errors is drawn
    afresh."""
    key = (
        str(get_locale()),
        *(
            (
                field.name,
                field.data,
                tuple(str(part) for choice in field.choices for part in choice),
            )
            for field in form
        ),
    )
    if any(field.errors for field in form):
        return _render(form)
    with _RENDERED_LOCK:
        found = _RENDERED.get(key)
        if found is not None:
            _RENDERED.move_to_end(key)
            return found
    html = _render(form)
    with _RENDERED_LOCK:
        _RENDERED[key] = html
        while len(_RENDERED) > _RENDERED_KEEP:
            _RENDERED.popitem(last=False)
    return html
