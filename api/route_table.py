"""The app's routes as (full path, methods, route) whatever the nesting: FastAPI 0.16x keeps included
routers nested, so `app.router.routes` alone does not list them. Used where the HTTP layer must know
which routes a raw path matches before routing (the request guard, the 405 `Allow` header)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from re import Pattern
from typing import Any

from starlette.routing import BaseRoute, compile_path


@dataclass(frozen=True)
class RouteEntry:
    path: str
    methods: frozenset[str]
    route: Any


def route_entries(routes: Sequence[BaseRoute]) -> Iterator[RouteEntry]:
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI flattens included routers into app.routes
        for route in routes:
            path = getattr(route, "path", None)
            if path is not None:
                yield RouteEntry(path, frozenset(getattr(route, "methods", None) or ()), route)
        return
    for context in iter_route_contexts(routes):
        path = context.path
        if path is not None:  # like the branch above: a route without a path (a Host) has no template
            yield RouteEntry(path, frozenset(context.methods or ()), context.route)


@lru_cache(maxsize=512)
def _path_regex(path: str) -> Pattern[str]:
    return compile_path(path)[0]


def matching(routes: Sequence[BaseRoute], path: str) -> Iterator[RouteEntry]:
    """The routes whose path template matches `path` (any method)."""
    for entry in route_entries(routes):
        if _path_regex(entry.path).match(path):
            yield entry


def path_params(template: str, path: str) -> dict[str, str]:
    """The path parameters of `path` under the route template (raw strings, before conversion)."""
    match = _path_regex(template).match(path)
    return dict(match.groupdict()) if match else {}
