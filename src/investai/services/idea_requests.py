"""Idea-generation requests: submit (queued as a job, or run at once when small), run, follow, cancel, list.

A request is validated (field errors are a 422; advisory warnings are returned with it), stored, and queued
as an ``ideas.generate`` job at the request's priority. The job runs the agent team as the requester (their
current role and access), writes progress and every agent message as it goes (so status and the SSE stream
work from any process), stores the ideas, and finally POSTs the outcome to the callback URL when one was
given and its host is allow-listed.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import structlog
from pydantic import ValidationError as PydanticValidationError

from investai.domain.access import Permission, Principal
from investai.domain.agents import AgentMessage, AgentName, AgentProgress, AgentState
from investai.domain.common import new_id
from investai.domain.errors import BudgetExceeded, Conflict, NotFound, PermissionDenied, ValidationFailed
from investai.domain.idea_jobs import IdeaRequestRecord, RequestStatus, Usage
from investai.domain.idea_parts import AssetClass
from investai.domain.idea_request import REQUEST_TEMPLATES, IdeaRequest, Priority, request_from_template
from investai.domain.idea_views import IdeaView
from investai.domain.jobs import JobStatus
from investai.domain.knowledge import AccessScope
from investai.domain.users import InvestmentPreferences, UserStatus
from investai.observability.tracing import trace_payload
from investai.ports.audit import AuditLog
from investai.ports.clock import Clock
from investai.ports.ideas import GenerationResult, IdeaGenerator
from investai.ports.jobs import JobRecords
from investai.ports.repositories import IdeaRepository, IdeaRequestRepository, ProfileRepository, UserRepository
from investai.services.audit_trail import record_access
from investai.services.auth_common import CallContext
from investai.services.budgets import BudgetService
from investai.services.source_access import SourceAccess

JOB_KIND = "ideas.generate"
RUN_ATTEMPTS = 3
"""A generation whose worker stopped mid-run (its lease ran out) is run again up to this many times in all;
failures inside a run are recorded on the request and never retried."""
PRIORITY = {Priority.LOW: -1, Priority.NORMAL: 0, Priority.HIGH: 1}
log = structlog.get_logger(__name__)


class RequestValidationFailed(ValidationFailed):
    """A request that breaks field rules; ``details`` lists each problem (as a 422 body does)."""

    def __init__(self, message: str, details: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.details = details


def parse_submission(
    body: Mapping[str, Any], preferences: InvestmentPreferences | None = None
) -> tuple[IdeaRequest, str | None]:
    """The request a submission describes: an optional ``template`` whose parameters the other fields override,
    on top of the requester's saved ``preferences`` (unless the body says ``"use_profile": false``)."""
    fields = dict(body)
    template = fields.pop("template", None)
    use_profile = fields.pop("use_profile", True)
    if not isinstance(use_profile, bool):
        raise RequestValidationFailed("use_profile is true or false", [{"loc": ["use_profile"], "msg": "a boolean"}])
    fields.pop("from_profile", None)  # filled here, never given
    if template is not None and (not isinstance(template, str) or template not in REQUEST_TEMPLATES):
        raise RequestValidationFailed(
            "unknown request template",
            [{"loc": ["template"], "msg": f"choose one of {', '.join(sorted(REQUEST_TEMPLATES))}"}],
        )
    try:
        return request_from_template(template, fields, preferences if use_profile else None), template
    except PydanticValidationError as exc:
        details = [
            {"loc": list(error["loc"]), "msg": error["msg"], "type": error["type"]}
            for error in exc.errors(include_url=False, include_input=False)
        ]
        raise RequestValidationFailed("the idea request is not valid", details) from exc


class IdeaRequestService:
    def __init__(
        self,
        *,
        requests: IdeaRequestRepository,
        ideas: IdeaRepository,
        users: UserRepository,
        jobs: JobRecords,
        generator: IdeaGenerator,
        audit: AuditLog,
        clock: Clock,
        sources: SourceAccess,
        callback_hosts: list[str] | None = None,
        sync_max_ideas: int = 3,
        http: httpx.Client | None = None,
        profiles: ProfileRepository | None = None,
        budgets: BudgetService | None = None,
    ) -> None:
        self._profiles = profiles
        self._budgets = budgets
        self._requests = requests
        self._ideas = ideas
        self._users = users
        self._jobs = jobs
        self._generator = generator
        self._audit = audit
        self._clock = clock
        self._sources = sources
        self._callback_hosts = {host.lower() for host in callback_hosts or []}
        self._sync_max_ideas = sync_max_ideas
        self._http = http
        self._progress_lock = threading.Lock()

    @property
    def generator(self) -> IdeaGenerator:
        return self._generator

    @staticmethod
    def defaults(preferences: InvestmentPreferences) -> IdeaRequest:
        """The request a user's saved investment preferences suggest (a request form's starting point)."""
        fields = {
            "risk_tolerance": preferences.risk_tolerance,
            "investment_horizon": preferences.time_horizon,
            "sectors": preferences.sectors,
            "asset_classes": preferences.asset_classes or [AssetClass.EQUITY],
            "exclusions": preferences.exclusions,
            "esg": preferences.esg,
        }
        try:
            return IdeaRequest.model_validate(fields)
        except PydanticValidationError:  # symbols saved under older rules: keep the rest of the preferences
            return IdeaRequest.model_validate(
                {key: value for key, value in fields.items() if key not in ("sectors", "exclusions")}
            )

    # --- submit ----------------------------------------------------------------------------------------------

    def preferences(self, principal: Principal) -> InvestmentPreferences | None:
        """The requester's saved investment preferences (``None`` when they saved none)."""
        if self._profiles is None:
            return None
        try:
            return self._profiles.get(principal.user_id).preferences
        except NotFound:
            return None

    def parse(self, principal: Principal, body: Mapping[str, Any]) -> tuple[IdeaRequest, str | None]:
        """:func:`parse_submission` with the requester's saved preferences filling what the body leaves out."""
        return parse_submission(body, self.preferences(principal))

    def _check_callback(self, url: str | None) -> None:
        if url is None:
            return
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if parts.scheme not in ("https", "http") or not host:
            raise RequestValidationFailed("bad callback URL", [{"loc": ["callback_url"], "msg": "an http(s) URL"}])
        if host not in self._callback_hosts:
            raise RequestValidationFailed(
                "callback host not allowed",
                [{"loc": ["callback_url"], "msg": f"{host} is not on the callback allow-list"}],
            )
        if parts.scheme == "http" and host not in ("127.0.0.1", "localhost", "::1"):
            raise RequestValidationFailed(
                "callback must use https", [{"loc": ["callback_url"], "msg": "https is required off loopback"}]
            )

    def _new_record(
        self, principal: Principal, request: IdeaRequest, template: str | None, *, sync: bool
    ) -> IdeaRequestRecord:
        if not principal.can(Permission.IDEAS_REQUEST):
            raise PermissionDenied("requesting ideas needs the ideas:request permission")
        self._check_callback(request.callback_url)
        if self._budgets is not None:  # 429 while the user's or the organisation's monthly budget is spent
            self._budgets.check(user_id=principal.user_id, organisation_id=principal.organisation_id)
        now = self._clock.now()
        return IdeaRequestRecord(
            id=new_id("ireq_"),
            owner_id=principal.user_id,
            organisation_id=principal.organisation_id,
            role=principal.role.value,
            request=request,
            template=template,
            warnings=request.warnings(),
            synchronous=sync,
            created_at=now,
            updated_at=now,
        )

    def submit(self, principal: Principal, ctx: CallContext, body: Mapping[str, Any]) -> IdeaRequestRecord:
        request, template = self.parse(principal, body)
        record = self._new_record(principal, request, template, sync=False)
        self._requests.add(record)
        job = self._jobs.enqueue(
            JOB_KIND,
            {"request_id": record.id, **trace_payload()},  # the job continues this request's trace
            owner_id=principal.user_id,
            organisation_id=principal.organisation_id,
            priority=PRIORITY[request.priority],
            max_attempts=RUN_ATTEMPTS,
        )
        record = record.model_copy(update={"job_id": job.id})
        self._requests.update(record)
        record_access(
            self._audit, principal, ctx, action="ideas.request", resource_type="idea_request", resource_id=record.id
        )
        return record

    def submit_unqueued(self, principal: Principal, ctx: CallContext, body: Mapping[str, Any]) -> IdeaRequestRecord:
        """Record a request that the caller runs itself with :meth:`run` (the command line): never queued, so no
        worker of a server running beside the caller runs it as well."""
        request, template = self.parse(principal, body)
        record = self._new_record(principal, request, template, sync=True)
        self._requests.add(record)
        record_access(
            self._audit, principal, ctx, action="ideas.request", resource_type="idea_request", resource_id=record.id
        )
        return record

    def generate_now(
        self, principal: Principal, ctx: CallContext, body: Mapping[str, Any]
    ) -> tuple[IdeaRequestRecord, list[IdeaView]]:
        """Run a small request in the caller's thread (``max_ideas`` up to the synchronous limit)."""
        request, _ = self.parse(principal, body)
        if request.max_ideas > self._sync_max_ideas:
            raise RequestValidationFailed(
                "too large for synchronous mode",
                [
                    {
                        "loc": ["max_ideas"],
                        "msg": f"at most {self._sync_max_ideas} ideas synchronously; submit it instead",
                    }
                ],
            )
        finished = self.run(self.submit_unqueued(principal, ctx, body).id)
        return finished, self._sources.ideas(principal, [self._ideas.get(idea_id) for idea_id in finished.idea_ids])

    # --- run (the job) ---------------------------------------------------------------------------------------

    def run(self, request_id: str) -> IdeaRequestRecord:
        """Generate the request's ideas and store them with its outcome in one step. A request found running
        was being run by a worker that stopped (a crash, a kill): nothing of that run was stored, so it starts
        over."""
        record = self._requests.get(request_id)
        if record.finished:
            return record
        now = self._clock.now()
        if self._requests.cancel_requested(request_id):
            return self._finish(record, RequestStatus.CANCELLED, error="cancelled before it started")
        try:
            owner = self._users.get(record.owner_id)
        except NotFound:
            return self._finish(record, RequestStatus.FAILED, error="the requester no longer exists")
        if owner.status is UserStatus.DISABLED or owner.organisation_id != record.organisation_id:
            return self._finish(record, RequestStatus.FAILED, error="the requester's account is disabled")
        try:  # a request queued before the budget ran out does not start once it has
            if self._budgets is not None:
                self._budgets.check(user_id=owner.id, organisation_id=record.organisation_id)
        except BudgetExceeded as exc:
            return self._finish(record, RequestStatus.FAILED, error=f"{exc.code}: {exc}")
        reader = AccessScope(user_id=owner.id, organisation_id=owner.organisation_id, role=owner.role.value)
        record = record.model_copy(update={"status": RequestStatus.RUNNING, "started_at": now, "updated_at": now})
        self._requests.update(record)
        state = {"record": record}

        def on_message(message: AgentMessage) -> None:
            self._requests.append_message(message)

        def on_progress(agent: AgentName, status: AgentState, percent: float, detail: str | None) -> None:
            with self._progress_lock:
                current = state["record"]
                progress = dict(current.progress)
                progress[agent] = AgentProgress(
                    agent=agent, state=status, percent=percent, detail=detail, updated_at=self._clock.now()
                )
                current = current.model_copy(update={"progress": progress, "updated_at": self._clock.now()})
                state["record"] = current
                self._requests.update(current)

        try:
            result = self._generator.generate(
                record.request,
                request_id=record.id,
                reader=reader,
                on_message=on_message,
                on_progress=on_progress,
                is_cancelled=lambda: self._requests.cancel_requested(request_id),
            )
        except Exception as exc:
            cancelled = self._requests.cancel_requested(request_id)
            status = RequestStatus.CANCELLED if cancelled else RequestStatus.FAILED
            if not cancelled:
                log.error("ideas.generation_failed", request_id=request_id, error=str(exc), exc_info=True)
            return self._finish(state["record"], status, error=f"{type(exc).__name__}: {exc}"[:2000])
        return self._finish(state["record"], RequestStatus.SUCCEEDED, result=result)

    def _finish(
        self,
        record: IdeaRequestRecord,
        status: RequestStatus,
        *,
        error: str | None = None,
        result: GenerationResult | None = None,
    ) -> IdeaRequestRecord:
        now = self._clock.now()
        update: dict[str, Any] = {"status": status, "finished_at": now, "updated_at": now, "error": error}
        if result is not None:
            uses = result.model_uses
            update |= {
                "idea_ids": [idea.id for idea in result.ideas],
                "blocked": result.blocked,
                "skipped": result.skipped,
                "failures": result.failures,
                "screened": result.screened,
                "usage": Usage(
                    calls=len(uses),
                    input_tokens=sum(use.input_tokens for use in uses),
                    output_tokens=sum(use.output_tokens for use in uses),
                    cost_usd=sum(use.cost_usd for use in uses),
                    offline_calls=sum(use.offline for use in uses),
                ),
            }
        if status is not RequestStatus.SUCCEEDED:
            update["progress"] = {
                agent: item
                if item.state is AgentState.DONE
                else item.model_copy(
                    update={"state": AgentState.SKIPPED if status is RequestStatus.CANCELLED else AgentState.FAILED}
                )
                for agent, item in record.progress.items()
            }
        finished = record.model_copy(update=update)
        if result is not None and self._budgets is not None:  # before the outcome: if this fails, the job reruns
            self._budgets.record_run(
                request_id=record.id,
                user_id=record.owner_id,
                organisation_id=record.organisation_id,
                started_at=record.started_at,
                uses=result.model_uses,
                at=now,
            )
        self._requests.complete(finished, list(result.ideas) if result is not None else [])
        self._notify(finished)
        return self._requests.get(finished.id)

    def _notify(self, record: IdeaRequestRecord) -> None:
        url = record.request.callback_url
        if url is None:
            return
        try:
            self._check_callback(url)  # the allow-list may have changed since the request was made
            client = self._http or httpx.Client(timeout=5.0, follow_redirects=False)
            response = client.post(
                url,
                json={"request_id": record.id, "status": record.status.value, "idea_ids": record.idea_ids},
                headers={"User-Agent": "investai-callback"},
            )
            log.info("ideas.callback", request_id=record.id, status=response.status_code)
        except (httpx.HTTPError, ValidationFailed) as exc:
            log.warning("ideas.callback_failed", request_id=record.id, error=str(exc))

    # --- read, cancel ----------------------------------------------------------------------------------------

    def _visible(self, principal: Principal, request_id: str, ctx: CallContext, action: str) -> IdeaRequestRecord:
        try:
            record = self._requests.get(request_id)
        except NotFound:
            record = None
        allowed = record is not None and principal.may_read(
            owner_id=record.owner_id,
            organisation_id=record.organisation_id,
            organisation_wide=principal.can(Permission.IDEAS_READ_ORGANISATION),
        )
        record_access(
            self._audit,
            principal,
            ctx,
            action=action,
            resource_type="idea_request",
            resource_id=request_id,
            allowed=allowed,
        )
        if record is None or not allowed:
            raise NotFound(f"idea request {request_id} not found")
        return self._settled(record)

    def _settled(self, record: IdeaRequestRecord) -> IdeaRequestRecord:
        """The record, failed (and recorded so) when its job was dead-lettered: its worker stopped on every
        attempt, so nothing will ever finish it."""
        if record.finished or record.job_id is None:
            return record
        try:
            job = self._jobs.get(record.job_id)
        except NotFound:
            return record
        if job.status is not JobStatus.DEAD:
            return record
        error = f"stopped with its worker on each of {job.attempts} attempts; submit it again"
        return self._finish(record, RequestStatus.FAILED, error=error)

    def status(self, principal: Principal, ctx: CallContext, request_id: str) -> IdeaRequestRecord:
        return self._visible(principal, request_id, ctx, "ideas.request.read")

    def peek(self, principal: Principal, request_id: str) -> IdeaRequestRecord:
        """The record for a stream already authorised by :meth:`status` (no audit record per poll)."""
        record = self._requests.get(request_id)
        if record.organisation_id != principal.organisation_id:
            raise NotFound(f"idea request {request_id} not found")
        return self._settled(record)

    def messages(self, principal: Principal, request_id: str, *, after: int) -> list[tuple[int, AgentMessage]]:
        """The request's messages after sequence number ``after``, as ``principal`` may see them, for a request
        already authorised by :meth:`status`."""
        found = self._requests.messages(request_id, after=after)
        older = after > 0 and any(message.document_sources is None for _, message in found)
        earlier = self._requests.messages(request_id, limit=after) if older else []
        trail = [message for seq, message in earlier if seq <= after]
        return self._sources.messages(principal, found, trail=trail)

    def results(self, principal: Principal, ctx: CallContext, request_id: str) -> list[IdeaView]:
        record = self._visible(principal, request_id, ctx, "ideas.request.results")
        if record.status is not RequestStatus.SUCCEEDED:
            raise Conflict(f"idea request {request_id} is {record.status.value}; results come when it succeeds")
        return self._sources.ideas(principal, [self._ideas.get(idea_id) for idea_id in record.idea_ids])

    def cancel(self, principal: Principal, ctx: CallContext, request_id: str) -> IdeaRequestRecord:
        record = self._visible(principal, request_id, ctx, "ideas.request.cancel")
        if record.owner_id != principal.user_id:
            raise PermissionDenied("only the requester can cancel a request")
        if record.finished:
            raise Conflict(f"idea request {request_id} already {record.status.value}")
        self._requests.request_cancel(request_id)
        if record.status is RequestStatus.QUEUED and record.job_id:
            try:
                self._jobs.cancel(record.job_id)
            except (Conflict, NotFound):
                pass  # a worker leased it meanwhile: it sees the cancel flag before it starts
            else:
                return self._finish(self._requests.get(request_id), RequestStatus.CANCELLED, error="cancelled")
        return self._requests.get(request_id)

    def history(
        self,
        principal: Principal,
        ctx: CallContext,
        *,
        status: RequestStatus | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
        everyone: bool = False,
    ) -> list[IdeaRequestRecord]:
        record_access(
            self._audit, principal, ctx, action="ideas.request.list", resource_type="idea_request", resource_id=None
        )
        owner = None if everyone and principal.can(Permission.IDEAS_READ_ORGANISATION) else principal.user_id
        found = self._requests.list_requests(
            organisation_id=principal.organisation_id,
            owner_id=owner,
            status=status,
            since=since,
            until=until,
            limit=limit,
        )
        return [self._settled(record) for record in found]
