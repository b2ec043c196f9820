"""Text that is not valid Unicode — a lone UTF-16 surrogate escaped in JSON, bytes that are not UTF-8 — is
refused with 422 naming the field on every route, before and after sign-in, and never reaches a handler or
a store; the WAF inspects such requests without failing."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from investai.bootstrap import Container, build_container
from investai.config import Settings
from investai.server import create_app
from tests.conftest import Account, sign_up
from tests.document_files import make_csv

LONE_SURROGATE = rb"\ud800"  # the six characters of a JSON escape, not a Python escape
NOT_UTF8 = b"\xff"
ENCODED_SURROGATE = b"\xed\xa0\x80"  # U+D800 written as UTF-8 bytes, which UTF-8 forbids
CSV = make_csv(["ticker", "note"], [["AAPL", "services"]])


@pytest.fixture(scope="module")
def container(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Container]:
    """One container for the module: every request here is refused, so none changes what another sees."""
    built = build_container(Settings(data_dir=tmp_path_factory.mktemp("text") / "var", _env_file=None))
    yield built
    built.close()


@pytest.fixture(scope="module")
def analyst(container: Container) -> Account:
    return sign_up(container)


@pytest.fixture(scope="module")
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container), base_url="http://127.0.0.1") as test_client:
        yield test_client


def post_json(client: TestClient, method: str, path: str, body: bytes, headers: dict[str, str]) -> Any:
    return client.request(method, path, content=body, headers={"content-type": "application/json", **headers})


def assert_refused(response: Any, location: list[Any]) -> None:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["request_id"]
    assert error["details"][0]["loc"] == location
    assert ".".join(str(part) for part in location) in error["message"]


# (method, path, JSON body around the bad text, the field's location)
JSON_ROUTES = [
    ("POST", "/api/v1/auth/login", b'{"email": "x%s@example.com", "password": "a"}', ["body", "email"]),
    (
        "POST",
        "/api/v1/ideas/requests/validate",
        b'{"risk_tolerance": "moderate", "investment_horizon": "medium", "tickers": ["AAPL", "X%s"]}',
        ["body", "tickers", 1],
    ),
    (
        "POST",
        "/api/v1/ideas/idea_0123456789abcdef/feedback",
        b'{"rating": 4, "comments": {"accuracy": "fine %s"}}',
        ["body", "comments", "accuracy"],
    ),
    ("PATCH", "/api/v1/documents/doc_0123456789abcdef", b'{"title": "Q1 %s notes"}', ["body", "title"]),
]


@pytest.mark.parametrize("signed_in", [False, True], ids=["before-sign-in", "signed-in"])
@pytest.mark.parametrize("bad", [LONE_SURROGATE, NOT_UTF8, ENCODED_SURROGATE], ids=["escape", "byte", "utf8-surrogate"])
@pytest.mark.parametrize(("method", "path", "template", "location"), JSON_ROUTES, ids=[r[1] for r in JSON_ROUTES])
def test_json_text_that_is_not_unicode_is_refused_naming_the_field(
    client: TestClient,
    analyst: Account,
    method: str,
    path: str,
    template: bytes,
    location: list[Any],
    bad: bytes,
    signed_in: bool,
) -> None:
    headers = analyst.headers if signed_in else {}
    assert_refused(post_json(client, method, path, template % bad, headers), location)


def test_a_surrogate_in_a_key_is_named_escaped(client: TestClient, analyst: Account) -> None:
    body = b'{"risk_tolerance": "moderate", "k\\udfff": 1}'
    response = post_json(client, "POST", "/api/v1/ideas/requests/validate", body, analyst.headers)
    assert_refused(response, ["body", "k\\udfff"])


def test_surrogate_pairs_are_text_and_only_lone_halves_are_refused(client: TestClient) -> None:
    pair = post_json(
        client, "POST", "/api/v1/auth/login", rb'{"email": "x\ud83d\ude00@example.com", "password": "a"}', {}
    )
    assert pair.status_code in (401, 422)
    assert pair.json()["error"].get("details", [{}])[0].get("type") != "string_unicode"
    lone = post_json(
        client, "POST", "/api/v1/auth/login", rb'{"email": "x\ude00\ud83d@example.com", "password": "a"}', {}
    )
    assert_refused(lone, ["body", "email"])


def test_json_in_another_encoding_than_utf8_is_refused(client: TestClient) -> None:
    body = '{"email": "a@example.com", "password": "a"}'.encode("utf-16")
    assert_refused(post_json(client, "POST", "/api/v1/auth/login", body, {}), ["body"])


@pytest.mark.parametrize("signed_in", [False, True], ids=["before-sign-in", "signed-in"])
@pytest.mark.parametrize(
    ("url", "location"),
    [
        ("/api/v1/knowledge/search?q=%ED%A0%80", ["query", "q"]),
        ("/api/v1/knowledge/search?mode=keyword&q=caf%E9", ["query", "q"]),
        ("/api/v1/ideas/idea_%FF", ["path"]),
        ("/api/v1/documents/%ED%A0%80/content", ["path"]),
    ],
)
def test_query_strings_and_paths_must_be_utf8(
    client: TestClient, analyst: Account, url: str, location: list[Any], signed_in: bool
) -> None:
    assert_refused(client.get(url, headers=analyst.headers if signed_in else {}), location)


@pytest.mark.parametrize(
    ("request_kwargs"),
    [
        {"url": "/health?q=%ud800"},  # IIS-style escape, decoded by the WAF's inspection only
        {"url": "/health?q=\\ud800"},
        {"url": "/health", "headers": {"x-note": "\\udfff"}},
    ],
)
def test_the_waf_inspects_surrogate_escapes_without_failing(client: TestClient, request_kwargs: dict[str, Any]) -> None:
    assert client.get(**request_kwargs).status_code == 200


# --- uploads -------------------------------------------------------------------------------------------------

BOUNDARY = b"upload-boundary-5f2a"


def multipart(*parts: tuple[bytes, bytes | None, bytes]) -> tuple[bytes, dict[str, str]]:
    """A multipart body written byte for byte: (field name, file name or None, content) per part."""
    body = b""
    for name, filename, content in parts:
        disposition = b'form-data; name="' + name + b'"'
        if filename is not None:
            disposition += b'; filename="' + filename + b'"'
        body += b"--" + BOUNDARY + b"\r\nContent-Disposition: " + disposition + b"\r\n\r\n" + content + b"\r\n"
    body += b"--" + BOUNDARY + b"--\r\n"
    return body, {"content-type": f"multipart/form-data; boundary={BOUNDARY.decode()}"}


@pytest.mark.parametrize("signed_in", [False, True], ids=["before-sign-in", "signed-in"])
@pytest.mark.parametrize("bad", [NOT_UTF8, ENCODED_SURROGATE], ids=["byte", "utf8-surrogate"])
@pytest.mark.parametrize(
    ("parts", "location"),
    [
        (lambda bad: [(b"title", None, b"Q1 " + bad), (b"file", b"a.csv", CSV)], ["body", "title"]),
        (lambda bad: [(b"file", b"a.csv", CSV), (b"tags", None, b"ok"), (b"tags", None, bad)], ["body", "tags"]),
        (lambda bad: [(b"file", b"a" + bad + b".csv", CSV)], ["body", "file", "filename"]),
    ],
    ids=["title", "tags", "file-name"],
)
def test_multipart_fields_and_file_names_must_be_valid_text(
    client: TestClient, analyst: Account, parts: Any, location: list[Any], bad: bytes, signed_in: bool
) -> None:
    body, headers = multipart(*parts(bad))
    auth = analyst.headers if signed_in else {}
    assert_refused(client.post("/api/v1/documents", content=body, headers={**headers, **auth}), location)
    assert client.get("/api/v1/documents", headers=analyst.headers).json() == []


def test_a_json_document_with_a_lone_surrogate_is_refused_and_not_kept(client: TestClient, analyst: Account) -> None:
    document = b'[{"ticker": "AAPL", "note": "fine"}, {"ticker": "MSFT", "note": "bad \\ud800 text"}]'
    response = client.post(
        "/api/v1/documents", headers=analyst.headers, files={"file": ("estimates.json", io.BytesIO(document))}
    )
    assert response.status_code == 422, response.text
    assert "not valid Unicode at $[1].note" in response.json()["error"]["message"]
    assert client.get("/api/v1/documents", headers=analyst.headers).json() == []
