"""Documents in a real browser: a new analyst signs in (temporary password changed on the way), uploads a
PDF with the page's upload form, watches its badge turn "indexed", finds a phrase of it on the knowledge page,
opens the cited passage in the viewer, and deletes the document again."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable

import httpx
from playwright.sync_api import Page, expect

from tests.document_files import make_pdf
from tests.e2e.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Server, Session

NEW_PASSWORD = "Analyst-Passw0rd-for-E2E!"
INDEXING_TIMEOUT_MS = 120_000
PHRASE = "tamarind logistics corridor"
PAGES = [
    "Shipping outlook\n\nContainer rates were stable through the spring and port congestion eased.",
    f"Regional trade\n\nThe {PHRASE} doubled its throughput this year, lifting margins for the two operators"
    " that run it.",
]


def create_analyst(server: Server) -> tuple[str, str]:
    """A new analyst created by the administrator through the API: its e-mail and temporary password."""
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        login = client.post("/api/v1/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
        assert login.status_code == 200, login.text
        token = login.json()["access_token"]
        email = f"analyst.{secrets.token_hex(4)}@example.com"
        created = client.post(
            "/api/v1/admin/users",
            json={"email": email, "role": "analyst", "display_name": "E2E Analyst"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert created.status_code == 201, created.text
        return email, created.json()["temporary_password"]


def sign_in_first_time(session: Session, email: str, temporary: str) -> None:
    page = session.page
    session.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(temporary)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()
    page.get_by_label("New password").fill(NEW_PASSWORD)
    page.get_by_label("Repeat it").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set password and continue").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    page.wait_for_load_state("load")  # let the dashboard's scripts finish before leaving it


def upload_pdf(page: Page, title: str) -> None:
    page.get_by_label("File").set_input_files(
        {"name": "trade-note.pdf", "mimeType": "application/pdf", "buffer": make_pdf(PAGES)}
    )
    page.get_by_label("Title").fill(title)
    page.get_by_label("Tags").fill("shipping, e2e")
    page.get_by_role("button", name="Upload").click()


def test_upload_search_and_open_the_cited_passage(open_session: Callable[..., Session], server: Server) -> None:
    email, temporary = create_analyst(server)
    session = open_session("analyst")
    page = session.page
    sign_in_first_time(session, email, temporary)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Documents").click()
    expect(page.get_by_role("heading", name="Documents", exact=True)).to_be_visible()

    # nothing chosen: the form says so (a refused file's 415 is covered in tests/web: Chromium logs every
    # 4xx response of a script's request as a console error, which this harness counts as a problem)
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_role("alert")).to_have_text("Choose a file to upload.")

    title = "Trade corridors note"
    upload_pdf(page, title)
    expect(page.get_by_role("alert")).to_be_hidden()
    expect(page.get_by_role("status").filter(has_text="Uploaded")).to_contain_text(title)
    row = page.locator("#documents-table tbody tr", has_text=title)
    expect(row).to_have_count(1)
    expect(row).to_contain_text("shipping")
    expect(row.locator("[data-status-for]")).to_have_text("indexed", timeout=INDEXING_TIMEOUT_MS)
    expect(page.locator("#upload-progress")).to_have_attribute("value", "100")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Knowledge").click()
    expect(page.get_by_role("heading", name="Knowledge search")).to_be_visible()
    page.get_by_label("Search", exact=True).fill(PHRASE)
    page.get_by_label("Mode").select_option("keyword")
    page.get_by_role("button", name="Search").click()
    hit = page.locator("article.hit").first
    expect(hit).to_contain_text(title)
    expect(hit.locator("mark").first).to_be_visible()
    hit.get_by_role("link", name="Open passage").click()

    expect(page).to_have_url(re.compile(r"/documents/doc_[0-9a-f]+/view\?version=1&page=2&chunk=.+#cited$"))
    expect(page.get_by_role("heading", name=title)).to_be_visible()
    cited = page.locator("#cited")
    expect(cited).to_have_class(re.compile(r"\bcited\b"))
    expect(cited).to_contain_text(PHRASE)
    expect(cited).to_be_in_viewport()
    page.get_by_role("link", name="← Previous page").click()
    expect(page.get_by_role("heading", name="Page 1 of 2")).to_be_visible()
    expect(page.locator("#cited")).to_have_count(0)

    page.get_by_role("navigation", name="Breadcrumb").get_by_role("link", name=title).click()
    expect(page.get_by_role("heading", name="Versions")).to_be_visible()
    expect(page.get_by_role("cell", name="trade-note.pdf")).to_be_visible()
    page.on("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete").click()
    expect(page.get_by_role("status").first).to_contain_text("The document was deleted")
    expect(page.locator("#documents-table tbody tr", has_text=title)).to_have_count(0)
