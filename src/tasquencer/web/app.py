"""`tq.web.create_app(app)`: the HTTP API and the debugger's pages, as one ASGI application.

Mount it into your own FastAPI or Starlette application (`main.mount("/tq", create_app(app))`)
or run it with `tasquencer serve --app module:app`.
"""

from __future__ import annotations

from pathlib import Path

import pydantic
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException

import tasquencer as tq
from tasquencer.web import problems
from tasquencer.web.debugger import debugger_router
from tasquencer.web.routes import api_router

STATIC = Path(__file__).parent / "static"


def create_app(
    app: tq.App, *, title: str = "tasquencer", sqlite_writes_on_loop: bool = True
) -> FastAPI:
    """The ASGI application serving `app`'s registered workflows (register them first).

    On SQLite an action's call runs on the event loop when it need not wait for another writer
    (`app.without_waiting()`), and in a worker thread when it would: the hop to a thread and
    back costs more CPU than the call. Activities, policies and the user provider then run on
    the loop too: `sqlite_writes_on_loop=False` sends every call to a thread, for apps where
    one of them does slow work (a user provider asking a remote service, say)."""
    if not isinstance(app, tq.App):
        raise TypeError(f"create_app expects a tq.App, got {type(app).__name__}")
    if not isinstance(sqlite_writes_on_loop, bool):
        raise TypeError(
            "create_app's sqlite_writes_on_loop is True or False, got "
            f"{type(sqlite_writes_on_loop).__name__}"
        )
    # The docs page's scripts are served from the package: no CDN, so it works offline.
    web = FastAPIOffline(
        title=title, description="Drive and inspect the workflows of a tasquencer app."
    )
    web.include_router(api_router(app, writes_on_loop=sqlite_writes_on_loop))
    web.include_router(debugger_router(app))
    web.mount("/static", StaticFiles(directory=STATIC), name="static")
    web.add_exception_handler(tq.TasquencerError, problems.engine_error)
    web.add_exception_handler(ValueError, problems.engine_error)
    web.add_exception_handler(TypeError, problems.engine_error)
    web.add_exception_handler(RequestValidationError, problems.invalid_request)
    web.add_exception_handler(pydantic.ValidationError, problems.invalid_request)
    web.add_exception_handler(HTTPException, problems.http_error)
    return web
