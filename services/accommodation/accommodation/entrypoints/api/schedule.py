"""`POST /v1/schedule/conflicts`: where a work schedule and a program schedule collide."""

from flask_smorest import Blueprint

blp = Blueprint("schedule", __name__, url_prefix="/v1/schedule",
                description="Schedule conflicts between work and a treatment program.")
