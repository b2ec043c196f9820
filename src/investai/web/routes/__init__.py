"""Web pages, one module per area; each route renders a template from the services' results."""
