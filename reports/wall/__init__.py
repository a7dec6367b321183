"""The moderated live wall: `create_app(config)` is the ASGI app behind `tagwatch wall`."""

from tagwatch.reports.wall.app import create_app, make_server

__all__ = ["create_app", "make_server"]
