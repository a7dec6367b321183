"""The moderated live wall: `create_app(config)` is the ASGI app behind `tagwatch wall`.

`tagwatch.reports.wall.server.WallServer` serves it (in the foreground, or in a thread
inside `tagwatch run`); it is not imported here, so reading the wall's app or tests do not
load uvicorn.
"""

from tagwatch.reports.wall.app import create_app

__all__ = ["create_app"]
