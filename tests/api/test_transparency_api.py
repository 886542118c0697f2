"""The public transparency endpoints over real HTTP, without any credential: the signed
checkpoint (text/plain), the verifier key, an inclusion proof that checks, a consistency
proof, and stable problems for bad references — never a 500."""

from __future__ import annotations

import base64

from tanpuhui.client import Client
from tanpuhui.domain.merkle import check_consistency, check_inclusion, leaf_hash
from tanpuhui.services.transparency import publish_checkpoint
from tests.api.conftest import LiveServer, assert_problem
from tests.builders import event


def test_an_outsider_fetches_a_checkpoint_and_checks_a_proof(
    server: LiveServer, client: Client
) -> None:
    assert_problem(server.http.get("/v1/log/checkpoint"), 404, "no_checkpoint")
    outcomes = client.submit_events(
        [event(event_id="ride-1"), event(event_id="ride-2", subject="u-2")]
    )
    first = publish_checkpoint(server.ctx)
    note = server.http.get("/v1/log/checkpoint")
    assert note.status_code == 200 and note.headers["content-type"].startswith("text/plain")
    assert note.text == first.served()
    key = server.http.get("/v1/log/key").text
    assert key.startswith("tanpuhui.example/ledger+")
    reduction = outcomes["outcomes"][0]["reduction_id"]
    proof = server.http.get(f"/v1/log/proofs/{reduction}")
    assert proof.status_code == 200, proof.text
    body = proof.json()
    assert body["checkpoint"]["note"] == note.text
    (leaf,) = body["leaves"]
    assert check_inclusion(
        leaf_hash(leaf["leaf_data"].encode()), leaf["index"], leaf["tree_size"],
        [base64.b64decode(h) for h in leaf["inclusion"]], base64.b64decode(leaf["shard_root"]),
    )  # fmt: skip
    client.submit_events([event(event_id="ride-3", subject="u-3")])
    second = publish_checkpoint(server.ctx)
    grown = server.http.get(f"/v1/log/consistency?old={first.id}&new={second.id}").json()
    for s in grown["shards"]:
        if s["old_size"]:
            assert check_consistency(
                s["old_size"], s["new_size"], base64.b64decode(s["old_root"]),
                base64.b64decode(s["new_root"]), [base64.b64decode(h) for h in s["proof"]],
            )  # fmt: skip
    assert server.http.get(f"/v1/log/checkpoints/{first.id}").text == first.served()


def test_bad_references_get_stable_problems(server: LiveServer, client: Client) -> None:
    client.submit_events([event(event_id="ride-1")])
    publish_checkpoint(server.ctx)
    assert_problem(server.http.get("/v1/log/proofs/not-an-id"), 422, "bad_id")
    missing = "0190a000-0000-7000-8000-000000000099"
    assert_problem(server.http.get(f"/v1/log/proofs/{missing}"), 404, "not_in_log")
    assert_problem(server.http.get("/v1/log/checkpoints/99"), 404, "no_checkpoint")
    assert server.http.get("/v1/log/consistency?old=2&new=1").status_code == 422
    assert server.http.get("/v1/log/consistency?old=x&new=1").status_code == 422
