"""The web layer every service shares: app factory, problems, auth, idempotency, paging."""
