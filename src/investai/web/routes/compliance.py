"""Web pages: compliance."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
