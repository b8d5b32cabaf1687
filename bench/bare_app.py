"""The baseline for the submission benchmark: the least a Flask app can do for the same job.

It renders a Flask-WTF form with the same fields as ReportLine's report form,
checks the CSRF token and the same length limits, inserts one row with the
SQLAlchemy ORM (on SQLite with the same connection settings: WAL,
synchronous=FULL, foreign keys, secure_delete, 30 s busy timeout) and renders
a receipt page with ten random words. No encryption, no translations, no
security headers, no shared layout: everything ReportLine adds on top is what
the benchmark measures.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from datetime import UTC, date, datetime
from typing import Any

from flask import Flask, render_template
from flask_wtf import FlaskForm
from jinja2 import DictLoader
from sqlalchemy import Engine, LargeBinary, String, Text, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker
from wtforms import RadioField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length

WORDS = (
    "acorn", "badge", "cabin", "delta", "ember", "fable", "gravel", "harbor", "ivory", "jigsaw",
    "kettle", "lantern", "meadow", "nectar", "orbit", "pepper", "quartz", "ribbon", "saddle",
    "timber", "umpire", "velvet", "walnut", "yonder", "zephyr", "anchor", "bishop", "copper",
    "dolphin", "falcon", "garnet", "hazel",
)

TEMPLATES = {
    "layout.html": """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{% block title %}{% endblock %}</title></head>
<body><main>{% block content %}{% endblock %}</main></body></html>""",
    "report.html": """{% extends "layout.html" %}{% block title %}Make a report{% endblock %}
{% block content %}<h1>Make a report</h1>
<form method="post" action="/report" novalidate>
{{ form.csrf_token }}
{% for field in form if field.name != "csrf_token" %}
<div>{{ field.label }}
{% for error in field.errors %}<p class="error">{{ error }}</p>{% endfor %}
{{ field() }}</div>
{% endfor %}
<button type="submit">Send report</button>
</form>{% endblock %}""",
    "receipt.html": """{% extends "layout.html" %}{% block title %}Sent{% endblock %}
{% block content %}<h1>Your report has been sent</h1>
<ol id="receipt">{% for word in words %}<li>{{ word }}</li>{% endfor %}</ol>{% endblock %}""",
}


class Base(DeclarativeBase):
    """Declarative base of the bare app."""


class BareReport(Base):
    """One report, stored as typed."""

    __tablename__ = "bare_reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    received_on: Mapped[date]
    category: Mapped[str] = mapped_column(String(40))
    what_happened: Mapped[str] = mapped_column(Text)
    when: Mapped[str] = mapped_column(Text)
    where: Mapped[str] = mapped_column(Text)
    who_involved: Mapped[str] = mapped_column(Text)
    how_known: Mapped[str] = mapped_column(String(40))
    how_known_detail: Mapped[str] = mapped_column(Text)
    at_risk: Mapped[str] = mapped_column(String(40))
    at_risk_detail: Mapped[str] = mapped_column(Text)
    receipt_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)


def _choices(*values: str) -> list[tuple[str, str]]:
    return [(v, v.replace("_", " ").capitalize()) for v in values]


class BareReportForm(FlaskForm):
    """The same fields and limits as ReportLine's ReportForm, without hints or translations."""

    category = RadioField("What is your report about?", choices=_choices(
        "discrimination", "sexual_misconduct", "bullying", "corruption", "dishonesty",
        "drugs_criminal_associations", "other",
    ), validators=[DataRequired()])
    what_happened = TextAreaField("What happened?",
                                  validators=[DataRequired(), Length(max=10000)])
    when = StringField("When did it happen?", validators=[Length(max=200)])
    where = StringField("Where did it happen?", validators=[Length(max=200)])
    who_involved = TextAreaField("Who is involved?", validators=[Length(max=2000)])
    how_known = RadioField("How do you know about it?", choices=_choices(
        "saw_or_heard", "told", "documents", "other"), validators=[DataRequired()])
    how_known_detail = TextAreaField("Anything more?", validators=[Length(max=1000)])
    at_risk = RadioField("Is anyone at risk of harm now?",
                         choices=_choices("yes", "no", "not_sure"), validators=[DataRequired()])
    at_risk_detail = TextAreaField("Who is at risk?", validators=[Length(max=1000)])


def make_bare_engine(database_url: str) -> Engine:
    """An engine; on SQLite with ReportLine's connection PRAGMAs and busy timeout."""
    if not database_url.startswith("sqlite"):
        return create_engine(database_url, pool_pre_ping=True)
    engine = create_engine(database_url, connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        for pragma in ("journal_mode=WAL", "foreign_keys=ON", "secure_delete=ON",
                       "synchronous=FULL"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    return engine


def create_bare_app(database_url: str) -> Flask:
    """The bare app on `database_url` (its one table is created if missing)."""
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=base64.b64encode(secrets.token_bytes(32)).decode(),
        WTF_CSRF_TIME_LIMIT=None,
        TEMPLATES_AUTO_RELOAD=False,
    )
    app.jinja_loader = DictLoader(TEMPLATES)  # type: ignore[assignment]
    engine = make_bare_engine(database_url)
    Base.metadata.create_all(engine)
    sessions = sessionmaker(engine, expire_on_commit=False)

    @app.route("/report", methods=["GET", "POST"])
    def report() -> str | tuple[str, int]:
        form = BareReportForm()
        if not form.validate_on_submit():
            return render_template("report.html", form=form), (400 if form.errors else 200)
        words = [secrets.choice(WORDS) for _ in range(10)]
        with sessions() as session:
            session.add(BareReport(
                received_on=datetime.now(UTC).date(),
                category=form.category.data,
                what_happened=form.what_happened.data,
                when=form.when.data,
                where=form.where.data,
                who_involved=form.who_involved.data,
                how_known=form.how_known.data,
                how_known_detail=form.how_known_detail.data,
                at_risk=form.at_risk.data,
                at_risk_detail=form.at_risk_detail.data,
                receipt_hash=hashlib.sha256(
                    " ".join(words).encode() + secrets.token_bytes(16)).digest(),
            ))
            session.commit()
        return render_template("receipt.html", words=words)

    app.extensions["bench.engine"] = engine
    return app
