"""The employee's pages (HTML, no login): referral link, manage link, self-referral."""

from flask import Blueprint

blp = Blueprint("pages", __name__)
