"""The HTTP API: one flask-smorest blueprint per resource."""
