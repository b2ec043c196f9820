"""The API's request and response bodies, one module per resource: ``XCreate`` for a body that creates (or
runs) something, ``XUpdate`` for one that changes something, ``XPublic`` for an answer. Bodies the web UI uses
too live in :mod:`investai.http.schemas`."""
