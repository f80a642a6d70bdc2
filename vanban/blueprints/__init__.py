"""Blueprints, one per business area."""

from flask import Flask


def register_blueprints(app: Flask) -> None:
    from vanban.blueprints import (
        admin,
        annotation,
        approval,
        auth,
        changes,
        deadlines,
        documents,
        exchange,
        home,
        inbox,
        notifications,
        registers,
        reports,
        search,
        trial,
    )

    for module in (
        auth,
        admin,
        home,
        documents,
        inbox,
        registers,
        annotation,
        approval,
        changes,
        exchange,
        notifications,
        reports,
        search,
        deadlines,
        trial,
    ):
        app.register_blueprint(module.bp)

    # The city hub's API and settings exist only where this installation serves it.
    if app.config.get("HUB_ENABLED"):
        from vanban.blueprints import hub_admin, hub_api

        app.register_blueprint(hub_api.bp)
        app.register_blueprint(hub_admin.bp)
