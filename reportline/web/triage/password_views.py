"""The officer changes their own password, under /triage/account/password.

Officer pages are in English only (docs/translations.md): nothing here is
marked for translation.
"""

from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo

from reportline.services import passwords
from reportline.services.errors import LoginFailed, WeakPassword
from reportline.services.officers import MAX_PASSWORD_LENGTH
from reportline.web.context import client_address, now, settings
from reportline.web.database import get_session
from reportline.web.forms import Form, max_length
from reportline.web.triage import access
from reportline.web.triage.views import blueprint


class ChangePasswordForm(Form):
    """The current password and code prove it is the officer; the new one twice."""

    current = PasswordField(
        "Your current password",
        validators=[
            DataRequired(message="Enter your current password"),
            max_length(MAX_PASSWORD_LENGTH),
        ],
    )
    code = StringField(
        "Code from your authenticator app",
        validators=[DataRequired(message="Enter the 6-digit code"), max_length(12)],
    )
    new = PasswordField(
        "New password",
        validators=[
            DataRequired(message="Choose a new password"),
            max_length(MAX_PASSWORD_LENGTH),
        ],
    )
    confirm = PasswordField(
        "Type the new password again",
        validators=[EqualTo("new", message="The two new passwords are not the same")],
    )


@blueprint.route("/account/password", methods=["GET", "POST"])
def change_password() -> str | tuple[str, int] | BaseResponse:
    """Change your password: the key it unlocks is re-wrapped, your other sessions end."""
    form = ChangePasswordForm()
    if request.method == "POST" and form.validate():
        db = get_session()
        try:
            passwords.change_password(
                db,
                g.signed_in,
                form.current.data or "",
                form.code.data or "",
                form.new.data or "",
                (client_address(), access.sign_in_client().device),
                now(),
                settings(),
            )
        except WeakPassword as exc:
            db.rollback()
            form.new.errors = list(exc.problems)
        except passwords.WrongCode:
            db.commit()  # the failure counts against sign-in throttling
            form.code.errors = ["That code is not right. Enter the code your app shows now"]
        except LoginFailed:
            db.commit()
            form.current.errors = ["That is not your current password"]
        else:
            db.commit()
            flash(
                "Your password is changed. You are signed out on every other computer.",
                "success",
            )
            return redirect(url_for("triage.account"), code=303)
    status = 400 if request.method == "POST" else 200
    return render_template("triage/password.html", form=form), status
