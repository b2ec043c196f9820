"""Publication dates in a real browser: an analyst uploads a CSV with a publication date through the page's
upload form (its script sends the date to the API), sees it on the document's page and changes it there."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import expect

from tests.document_files import make_csv
from tests.e2e.conftest import Server, Session
from tests.e2e.flows import new_user_session


def test_upload_with_a_publication_date_and_change_it(open_session: Callable[..., Session], server: Server) -> None:
    session = open_session("analyst")
    page = session.page
    new_user_session(session, server, "analyst", "publisher")
    session.goto("/documents")
    title = "Freight fundamentals"
    page.get_by_label("File").set_input_files(
        {"name": "freight.csv", "mimeType": "text/csv", "buffer": make_csv(["ticker", "pe"], [["KO", 25.8]])}
    )
    page.get_by_label("Title").fill(title)
    page.get_by_label("Publication date").fill("2022-11-14")
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_role("status").filter(has_text="Uploaded")).to_contain_text(title)

    page.locator("#documents-table tbody tr", has_text=title).get_by_role("link", name=title).click()
    published = page.locator("dd[data-published-at]")
    expect(published).to_have_text("2022-11-14 00:00 UTC")
    page.get_by_label("Publication date", exact=True).fill("2022-10-03")
    page.get_by_role("button", name="Save publication date").click()
    expect(page.locator("dd[data-published-at]")).to_have_text("2022-10-03 00:00 UTC")
