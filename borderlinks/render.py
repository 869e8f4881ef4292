"""Rendering with Jinja2: autoescaped templates, overridable per file.

A template in the home folder's ``templates/`` wins over the packaged one of
the same name, and can ``{% extends "default:NAME" %}`` the packaged one to
override a single block.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import jinja2

from .config import Home, packaged_defaults
from .errors import TemplateError
from .text import is_web_url


def make_environment(home: Home) -> jinja2.Environment:
    """The Jinja environment for a home folder: its templates first, then the packaged ones."""
    own = home.root / "templates"
    packaged = packaged_defaults() / "templates"
    loaders: list[jinja2.BaseLoader] = []
    if own.is_dir() and own.resolve() != packaged.resolve():
        loaders.append(jinja2.FileSystemLoader(str(own)))
    loaders.append(jinja2.FileSystemLoader(str(packaged)))
    loader = jinja2.PrefixLoader({"default": jinja2.FileSystemLoader(str(packaged))})
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader([*loaders, loader]),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["safe_url"] = safe_url
    env.filters["datefmt"] = lambda value, fmt="%Y-%m-%d %H:%M": value.strftime(fmt) if isinstance(value, datetime) else ""
    return env


def safe_url(url: str) -> str:
    """A link from a feed, or ``#`` if it is not plain http(s): no ``javascript:`` ever reaches a page."""
    return url if is_web_url(url) else "#"


def render_template(env: jinja2.Environment, name: str, **context: Any) -> str:
    """Render one template; a missing or broken template becomes a TemplateError."""
    try:
        return env.get_template(name).render(**context)
    except jinja2.TemplateNotFound as e:
        searched = [getattr(loader, "searchpath", []) for loader in getattr(env.loader, "loaders", [])]
        paths = ", ".join(str(p) for group in searched for p in group)
        raise TemplateError(name, f"not found (searched {paths}); add it to your templates/ folder") from e
    except jinja2.TemplateSyntaxError as e:
        raise TemplateError(name, f"{e.filename or name}:{e.lineno}: {e.message}") from e
    except jinja2.UndefinedError as e:
        raise TemplateError(name, f"uses an unknown variable: {e.message}") from e
