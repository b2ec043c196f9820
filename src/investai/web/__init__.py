"""The server-rendered web UI: Jinja2 pages over the same services as the API, a cookie session with CSRF
protection, and a little JavaScript (no inline script) that calls the API for live progress and uploads."""
