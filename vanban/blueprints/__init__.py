"""Blueprints, one per business area."""

from flask import Flask


def register_blueprints(app: Flask) -> None:
    from vanban.blueprints import (
        annotation,
        approval,
        auth,
        documents,
        exchange,
        home,
        inbox,
        registers,
    )

    for module in (
        auth,
        home,
        documents,
        inbox,
        registers,
        annotation,
        approval,
        exchange,
    ):
        app.register_blueprint(module.bp)

    # The city hub's API and settings exist only where this installation serves it.
    if app.config.get("HUB_ENABLED"):
        from vanban.blueprints import hub_admin, hub_api

        app.register_blueprint(hub_api.bp)
        app.register_blueprint(hub_admin.bp)
