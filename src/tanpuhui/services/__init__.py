"""Services: one function per user intent; each owns its unit of work (one transaction)."""
