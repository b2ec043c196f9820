"""Templates and what every page gets: the signed-in user, the navigation their role allows, the CSRF token
and formatting filters. Jinja2 autoescaping is on for every template."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import date, datetime
from importlib.resources import files
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from starlette.responses import HTMLResponse

from investai import __version__
from investai.domain.access import Permission, Principal
from investai.web.links import citation_href

NOTICES = {
    "signed_out": "You are signed out.",
    "password_changed": "Your password was changed. Sign in with the new one.",
    "mfa_enabled": "Two-factor authentication is on.",
    "mfa_disabled": "Two-factor authentication is off.",
    "profile_saved": "Your preferences were saved.",
    "document_redated": "The publication date was saved; the document's passages are being re-dated for search.",
    "user_updated": "The user was updated.",
    "document_deleted": "The document was deleted; its passages leave the index shortly.",
    "document_restored": "The version was restored and is being indexed again.",
    "document_updated": "The document's sharing was updated.",
    "version_uploaded": "The new version was uploaded and is being indexed.",
    "status_changed": "The idea's status was changed.",
    "feedback_saved": "Thank you: your feedback was recorded.",
    "session_expired": "Your session ended. Sign in again.",
    "idea_approved": "The idea was approved.",
    "idea_rejected": "The idea was rejected; its owner sees your reason.",
}


@dataclass(frozen=True)
class NavItem:
    href: str
    label: str
    permission: Permission | None


NAVIGATION = (
    NavItem("/", "Dashboard", None),
    NavItem("/documents", "Documents", Permission.DOCUMENTS_READ),
    NavItem("/knowledge", "Knowledge", Permission.KNOWLEDGE_SEARCH),
    NavItem("/market", "Market", Permission.MARKET_READ),
    NavItem("/ideas/new", "New request", Permission.IDEAS_REQUEST),
    NavItem("/ideas", "Ideas", Permission.IDEAS_READ),
    NavItem("/compliance", "Compliance", Permission.IDEAS_REVIEW),
    NavItem("/admin", "Admin", Permission.USERS_ADMIN),
    NavItem("/admin/audit", "Audit log", Permission.AUDIT_READ),
    NavItem("/profile", "Profile", Permission.PROFILE_SELF),
)


def navigation(principal: Principal | None, path: str) -> list[tuple[NavItem, bool]]:
    """The items the principal's role may open, each with whether it is the current section (the item whose
    path is the longest prefix of ``path``)."""
    if principal is None:
        return []
    items = [item for item in NAVIGATION if item.permission is None or principal.can(item.permission)]
    matches = [item.href for item in items if path == item.href or path.startswith(item.href.rstrip("/") + "/")]
    current = max(matches, key=len, default=None)
    return [(item, item.href == current) for item in items]


def _pct(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{float(value) * 100:.{digits}f}%"


def _num(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return f"{float(value):,.{digits}f}"


def _when(value: Any) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M UTC")
    if isinstance(value, date):
        return value.isoformat()
    return "" if value is None else str(value)


def _label(value: Any) -> str:
    text = getattr(value, "value", value)
    return "" if text is None else str(text).replace("_", " ")


def _finite(value: Any) -> Any:
    """``value`` with every NaN or infinity replaced by ``None`` (JSON has no such numbers)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def _json_data(value: Any) -> Markup:
    """JSON for a ``<script type="application/json">`` block: ``<``, ``>`` and ``&`` escaped so the data can
    never close the element (the block is data, not script, so the CSP is unaffected)."""
    text = json.dumps(_finite(value), default=str, allow_nan=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text)  # noqa: S704 - escaped above for the one context it is used in


def build_templates(*, static_url: str = "/static", progress_transport: str = "sse") -> Jinja2Templates:
    """The pages' templates. ``static_url``: where pages load CSS, scripts and plotly.js from (this server's
    ``/static``, or a CDN); ``progress_transport``: how the idea-request page follows progress (sse or poll)."""
    directory = str(files("investai.web") / "templates")
    templates = Jinja2Templates(directory=directory)
    env = templates.env
    env.autoescape = True
    env.filters.update(pct=_pct, num=_num, when=_when, label=_label, json_data=_json_data)
    env.globals.update(
        version=__version__,
        Permission=Permission,
        citation_href=citation_href,
        static_url=static_url.rstrip("/"),
        progress_transport=progress_transport,
    )
    return templates


def render(
    request: Request, template: str, context: dict[str, Any] | None = None, *, status_code: int = 200
) -> HTMLResponse:
    templates: Jinja2Templates = request.app.state.web_templates
    principal: Principal | None = getattr(request.state, "principal", None)
    notice = NOTICES.get(request.query_params.get("notice", ""))
    page = {
        "principal": principal,
        "user_label": getattr(request.state, "user_label", None),
        "nav": navigation(principal, request.url.path),
        "csrf_token": getattr(request.state, "csrf_token", ""),
        "notice": notice,
        "path": request.url.path,
        **(context or {}),
    }
    response = templates.TemplateResponse(request, template, page, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"
    return response
