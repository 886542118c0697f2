"""`tanpuhui demo` ends by printing the landing page and a sign-in link for one demo person:
a newcomer opens it, signs in and sees that person's ledger in the browser."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.cli_support import free_port
from tests.e2e.test_demo_process import Demo
from tests.pages_world import csrf_of


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    started = Demo(tmp_path, free_port())
    yield started
    started.stop()


def test_the_demo_prints_a_sign_in_link_that_opens_a_persons_ledger(demo: Demo) -> None:
    demo.wait_for("pages at")
    found = re.search(r"pages at (\S+)/ .*?: (http\S+)$", demo.out.read_text(), re.M)
    assert found, demo.output()
    base, link = found.groups()
    with httpx.Client(base_url=base, timeout=30) as http:
        assert http.get("/").status_code == 200
        form = http.get(link)
        assert form.status_code == 200
        account = re.search(r'name="account" value="([^"]+)"', form.text)
        code = re.search(r'name="code" value="(\d{6})"', form.text)
        assert account and code
        data = {"csrf": csrf_of(form.text), "as": "person", "account": account[1], "code": code[1]}
        signed = http.post("/signin/code", data=data)
        assert (signed.status_code, signed.headers["location"]) == (303, "/me")
        ledger = http.get("/me")
    assert ledger.status_code == 200 and "我的碳账本" in ledger.text
    assert "/me/reductions/" in ledger.text  # the demo person has reductions to explain
