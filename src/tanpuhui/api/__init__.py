"""The HTTP JSON API (FastAPI): thin routes over the services, errors mapped in one place."""
