"""Sessions and forms of the pages: the session cookie, CSRF tokens, and the per-address
limit on sign-in attempts.

- The session cookie (`tph_session`) is HttpOnly, SameSite=Lax and Secure when the request
  came over https; it holds `{shard}.{secret}` and the server keeps only the digest.
- Every form carries a CSRF token, and every unsafe request is refused without the right one
  (`checked_form`, the only way a page route reads a form). Signed in, the token is derived
  from the session's secret (an attacker who cannot read the HttpOnly cookie cannot make it);
  before signing in it is the double-submitted `tph_csrf` cookie (SameSite=Strict).
- Sign-in forms are limited per client address by a token bucket, on top of the per-code
  attempt limit and the per-account code limit the service keeps in the database.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

SESSION_COOKIE = "tph_session"
CSRF_COOKIE = "tph_csrf"
CSRF_FIELD = "csrf"


class CsrfError(Exception):
    """A form came without the right CSRF token."""


def is_https(request: Request) -> bool:
    return request.url.scheme == "https"


def anonymous_csrf(request: Request) -> str:
    """The visitor's double-submit token (a new one when the cookie is absent or malformed)."""
    value = request.cookies.get(CSRF_COOKIE, "")
    if len(value) == 43 and value.replace("-", "").replace("_", "").isalnum():
        return value
    memo: dict[str, str] = request.scope.setdefault("tanpuhui.web", {})
    return memo.setdefault("new_csrf", secrets.token_urlsafe(32))


def session_csrf(session_token: str) -> str:
    return hmac.new(session_token.encode(), b"tanpuhui-csrf", hashlib.sha256).hexdigest()


def csrf_token(request: Request, signed_in: bool) -> str:
    token = request.cookies.get(SESSION_COOKIE)
    if signed_in and token:
        return session_csrf(token)
    return anonymous_csrf(request)


async def checked_form(request: Request, signed_in: bool) -> FormData:
    """The request's form, once its CSRF token is the right one (else `CsrfError`)."""
    form = await request.form()
    sent = form.get(CSRF_FIELD)
    if not isinstance(sent, str) or not sent:
        raise CsrfError
    if not signed_in and request.cookies.get(CSRF_COOKIE) is None:
        raise CsrfError  # nothing to compare with: a forged cross-site post
    if not hmac.compare_digest(sent.encode(), csrf_token(request, signed_in).encode()):
        raise CsrfError
    return form


def set_cookies(request: Request, response: Response) -> None:
    """Hand out the double-submit cookie when this request minted one."""
    new = request.scope.get("tanpuhui.web", {}).get("new_csrf")
    if new:
        response.set_cookie(
            CSRF_COOKIE, new, httponly=True, samesite="strict", secure=is_https(request), path="/"
        )


def set_session_cookie(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=14 * 24 * 3600,
        httponly=True,
        samesite="lax",
        secure=is_https(request),
        path="/",
    )


@dataclass
class AddressLimiter:
    """A token bucket per client address: `burst` tries, refilled at `per_minute`."""

    per_minute: float = 20.0
    burst: float = 10.0
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def allow(self, address: str) -> bool:
        now = time.monotonic()
        with self._lock:
            tokens, at = self._buckets.get(address, (self.burst, now))
            tokens = min(self.burst, tokens + (now - at) * self.per_minute / 60)
            if len(self._buckets) > 100_000:  # forget the oldest when flooded
                self._buckets.clear()
            if tokens < 1:
                self._buckets[address] = (tokens, now)
                return False
            self._buckets[address] = (tokens - 1, now)
            return True
