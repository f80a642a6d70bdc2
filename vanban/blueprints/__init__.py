"""Blueprints, one per business area."""

from flask import Flask


def register_blueprints(app: Flask) -> None:
    from vanban.blueprints import (
        annotation,
        approval,
        auth,
        documents,
        home,
        inbox,
        registers,
    )

    for module in (auth, home, documents, inbox, registers, annotation, approval):
        app.register_blueprint(module.bp)
