"""HTTP pieces both entry points share: the REST API (``investai.api``) and the web UI (``investai.web``).

Domain errors mapped to status codes and error codes, the request's headers, client address and request id,
the dependencies both declare (the container, the call context, permission checks), and the bodies both accept
or render. ``investai.api`` and ``investai.web`` import this package and never each other;
``investai.server`` assembles the app that serves both."""
