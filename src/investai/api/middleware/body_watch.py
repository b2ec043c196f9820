"""Run the application while looking at each chunk of the request body as it is read (the body is never held
here): the look may refuse the request by raising. Shared by the body-size cap and the text check."""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send


async def call_watching_body(
    app: ASGIApp,
    scope: Scope,
    receive: Receive,
    send: Send,
    *,
    look: Callable[[bytes], None],
    refusal: type[Exception],
) -> Exception | None:
    """Run ``app`` with every body chunk passed to ``look`` first. A ``refusal`` that ``look`` raised while
    something outside FastAPI was reading (inside, FastAPI's handlers answer it) is returned for the caller to
    answer, if no response has started yet; after that it propagates."""
    started = False

    async def watched_receive() -> Message:
        message = await receive()
        if message["type"] == "http.request":
            look(message.get("body", b""))
        return message

    async def tracking_send(message: Message) -> None:
        nonlocal started
        started = started or message["type"] == "http.response.start"
        await send(message)

    try:
        await app(scope, watched_receive, tracking_send)
    except refusal as exc:
        if started:
            raise
        return exc
    return None
