"""The HTTP API and the time-travel debugger, as an ASGI application: `create_app(app)`."""

from tasquencer.web.app import create_app

__all__ = ["create_app"]
