"""The API's dependencies as ``Annotated`` aliases, so routes declare what they need in their signature: the
principal of the Bearer token (401 without one) and the permission each route needs (403 without it), and the
metrics scrape's own credential (:func:`metrics_scrape`). The container and the call context are declared with
the shared aliases of :mod:`investai.http.deps`."""

from __future__ import annotations

import hmac
import os
from collections.abc import Mapping
from functools import lru_cache
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from investai.api.middleware.client_ip import IPNetwork, client_ip, parse_ip, parse_networks
from investai.bootstrap import Container
from investai.domain.access import Permission, Principal
from investai.http.deps import ContainerDep, PrincipalCheck, permission_check
from investai.http.errors import BEARER_CHALLENGE
from investai.observability.metrics import CLOUDWATCH_NAMESPACE, LAMBDA_FUNCTION_VARIABLE


async def get_principal(request: Request) -> Principal:
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:
        reason = getattr(request.state, "auth_error", None) or "authentication required"
        raise HTTPException(401, reason, headers=BEARER_CHALLENGE)
    return principal


def _forbidden(permission: Permission) -> HTTPException:
    return HTTPException(403, f"this action needs the {permission.value} permission")


def require(permission: Permission) -> PrincipalCheck:
    """A dependency that admits principals holding ``permission`` (401 without one, 403 without the right)."""
    return permission_check(permission, principal_of=get_principal, refuse=_forbidden, name="require")


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]
SelfService = Annotated[Principal, Depends(require(Permission.PROFILE_SELF))]
Administrator = Annotated[Principal, Depends(require(Permission.USERS_ADMIN))]
Auditor = Annotated[Principal, Depends(require(Permission.AUDIT_READ))]
Operator = Annotated[Principal, Depends(require(Permission.OPS_READ))]
Restorer = Annotated[Principal, Depends(require(Permission.DATA_RESTORE))]
IdeaReader = Annotated[Principal, Depends(require(Permission.IDEAS_READ))]
IdeaRequester = Annotated[Principal, Depends(require(Permission.IDEAS_REQUEST))]
JobReader = Annotated[Principal, Depends(require(Permission.JOBS_READ))]
DocumentReader = Annotated[Principal, Depends(require(Permission.DOCUMENTS_READ))]
DocumentWriter = Annotated[Principal, Depends(require(Permission.DOCUMENTS_WRITE))]
KnowledgeSearcher = Annotated[Principal, Depends(require(Permission.KNOWLEDGE_SEARCH))]
MarketReader = Annotated[Principal, Depends(require(Permission.MARKET_READ))]
MarketWriter = Annotated[Principal, Depends(require(Permission.MARKET_WRITE))]
MarketAdmin = Annotated[Principal, Depends(require(Permission.MARKET_ADMIN))]
AnalyticsRunner = Annotated[Principal, Depends(require(Permission.ANALYTICS_RUN))]


# -- the metrics scrape: a credential of its own, never a user's session ----------------------------------------
METRICS_TOKEN_SECRET = "metrics_token"
"""The secret-store name of the scrape token: ``INVESTAI_METRICS_TOKEN`` (or a file of that name in the secrets
directory) in the embedded shape, the key ``metrics_token`` of the application secret in Secrets Manager on AWS."""
METRICS_HOW_TO = {
    "token": "set the metrics_token secret (INVESTAI_METRICS_TOKEN, a secrets-directory file of that name, or the "
    "key metrics_token of the application secret in Secrets Manager) and send it as 'Authorization: Bearer <token>'",
    "networks": "set INVESTAI_METRICS_ALLOWED_NETWORKS to the scraper's addresses (IPs or CIDRs, as a JSON list)",
}
_NO_STORE = {"Cache-Control": "no-store"}
METRICS_IN_CLOUDWATCH = (
    "/metrics is not served on AWS: each Lambda instance would report only its own counters. Metrics are in"
    " CloudWatch: API Gateway and Lambda metrics, and the namespace InvestmentAI (model cost, tokens and errors)"
)
"""Why a Lambda function refuses a scrape (404); the API Gateway stack answers ``/metrics`` with the same text."""


def _refused(status: int, message: str, *, challenge: bool = False) -> HTTPException:
    headers = {**_NO_STORE, **(BEARER_CHALLENGE if challenge else {})}
    error = HTTPException(status, message, headers=headers)
    error.details = {"configure": METRICS_HOW_TO}  # type: ignore[attr-defined]  # the JSON body's "details"
    return error


@lru_cache(maxsize=16)
def _networks(entries: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return tuple(parse_networks(entries))


def _presented_token(request: Request) -> str | None:
    scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def _scrape_token(container: Container) -> str | None:
    try:
        return container.secrets.get(METRICS_TOKEN_SECRET)
    except Exception as exc:  # a secret store that does not answer: a refusal the scraper reports, not a 500
        raise HTTPException(
            503, f"the scrape token could not be read: {type(exc).__name__}", headers=_NO_STORE
        ) from exc


def on_lambda(environ: Mapping[str, str] | None = None) -> bool:
    """Whether this process is an AWS Lambda function (the runtime sets ``AWS_LAMBDA_FUNCTION_NAME``)."""
    return bool((os.environ if environ is None else environ).get(LAMBDA_FUNCTION_VARIABLE))


def _not_on_lambda() -> HTTPException:
    error = HTTPException(404, METRICS_IN_CLOUDWATCH, headers=_NO_STORE)
    error.details = {"metrics": "cloudwatch", "namespace": CLOUDWATCH_NAMESPACE}  # type: ignore[attr-defined]
    return error


def metrics_scrape(request: Request, container: ContainerDep) -> None:
    """Admit a Prometheus scrape: the ``metrics_token`` secret presented as a Bearer token (compared in constant
    time) and/or a client address inside ``metrics_allowed_networks`` — both when both are configured. A user's
    access token opens nothing here, whatever its role; with neither configured every scrape is refused (403)
    with a body that says how to configure one. Sync: the token may come from Secrets Manager.

    On AWS Lambda every scrape is refused first (404, :data:`METRICS_IN_CLOUDWATCH`, no secret read): each
    instance keeps a registry of its own, so a scrape would report one random instance's counters. Metrics of
    that shape are in CloudWatch (the functions write model cost, tokens and errors as EMF lines), and API
    Gateway answers ``/metrics`` itself without invoking the function (``investai_infra.stacks.api``)."""
    if on_lambda():
        raise _not_on_lambda()
    settings = container.settings
    networks = _networks(tuple(settings.metrics_allowed_networks))
    token = _scrape_token(container)
    if not token and not networks:
        raise _refused(403, "/metrics has no scrape credential configured; user sign-ins never open it")
    if networks:
        address = parse_ip(client_ip(request.scope, _networks(tuple(settings.trusted_proxies))))
        if address is None or not any(address in network for network in networks):
            raise _refused(403, "this address may not scrape /metrics")
    if token:
        presented = _presented_token(request)
        if presented is None or not hmac.compare_digest(presented.encode(), token.encode()):
            raise _refused(
                401,
                "/metrics needs the scrape token as a Bearer token (user access tokens are refused)",
                challenge=True,
            )


MetricsScraper = Annotated[None, Depends(metrics_scrape)]
