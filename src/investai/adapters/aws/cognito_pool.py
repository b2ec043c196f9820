"""Create the Cognito user pool and its app client from :class:`~investai.adapters.aws.resources.UserPoolSpec`:
idempotent (both are found by name), for emulators and sandbox accounts; production is deployed by the CDK app."""

from __future__ import annotations

from typing import Any

from investai.adapters.aws.resources import UserPoolSpec
from investai.domain.errors import Conflict


def ensure_user_pool(cognito: Any, spec: UserPoolSpec, pool_name: str, client_name: str) -> tuple[str, str]:
    """The ids of the pool ``pool_name`` and its app client ``client_name``, creating either as ``spec`` says
    when it does not exist. ``Conflict`` when a name is ambiguous (Cognito allows duplicate names)."""
    pool_id = _find_pool(cognito, pool_name)
    if pool_id is None:
        pool_id = str(cognito.create_user_pool(**spec.pool_arguments(pool_name))["UserPool"]["Id"])
        if spec.mfa != "OFF":
            cognito.set_user_pool_mfa_config(**spec.mfa_arguments(pool_id))
    client_id = _find_client(cognito, pool_id, client_name)
    if client_id is None:
        created = cognito.create_user_pool_client(**spec.client_arguments(pool_id, client_name))
        client_id = str(created["UserPoolClient"]["ClientId"])
    return pool_id, client_id


def find_user_pool(cognito: Any, pool_name: str, client_name: str) -> tuple[str, str] | None:
    """The ids of the pool ``pool_name`` and of its app client ``client_name``; ``None`` when either is
    missing."""
    pool_id = _find_pool(cognito, pool_name)
    if pool_id is None:
        return None
    client_id = _find_client(cognito, pool_id, client_name)
    return (pool_id, client_id) if client_id is not None else None


def _find_pool(cognito: Any, name: str) -> str | None:
    found = [
        pool["Id"]
        for page in cognito.get_paginator("list_user_pools").paginate(PaginationConfig={"PageSize": 60})
        for pool in page.get("UserPools", [])
        if pool.get("Name") == name
    ]
    if len(found) > 1:
        raise Conflict(f"{len(found)} user pools are named {name}; set the pool id explicitly")
    return str(found[0]) if found else None


def _find_client(cognito: Any, pool_id: str, name: str) -> str | None:
    found = [
        client["ClientId"]
        for page in cognito.get_paginator("list_user_pool_clients").paginate(
            UserPoolId=pool_id, PaginationConfig={"PageSize": 60}
        )
        for client in page.get("UserPoolClients", [])
        if client.get("ClientName") == name
    ]
    if len(found) > 1:
        raise Conflict(f"{len(found)} app clients of pool {pool_id} are named {name}; set the client id explicitly")
    return str(found[0]) if found else None
