"""The MLflow webhook endpoint of `modeleval watch mlflow:NAME` (registry/webhook.py): deliveries signed by
MLflow's own code are accepted, anything else refused. MLflow's real delivery to the endpoint is in
tests/e2e/test_mlflow_registry.py."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest

from pytest_modeleval.registry.webhook import Endpoint, Refused, Verifier, event_for, sign

delivery = pytest.importorskip("mlflow.webhooks.delivery")

BODY = json.dumps({"entity": "model_version", "action": "created", "timestamp": "2026-12-06T00:00:00+00:00",
                   "data": {"name": "chat", "version": "7", "source": "models:/m-1", "run_id": None, "tags": {},
                            "description": None}})


def headers(secret: str, delivery_id: str = "d-1", stamp: int | None = None, body: str = BODY) -> dict:
    stamp_text = str(stamp if stamp is not None else int(time.time()))
    return {"X-MLflow-Delivery-Id": delivery_id, "X-MLflow-Timestamp": stamp_text,
            "X-MLflow-Signature": delivery._generate_hmac_signature(secret, delivery_id, stamp_text, body)}


def test_our_signature_is_mlflows():
    assert sign("k", "d", "1", BODY.encode()) == delivery._generate_hmac_signature("k", "d", "1", BODY)


def test_a_delivery_signed_by_mlflow_is_accepted_once():
    verifier = Verifier("s3cret")
    payload = verifier.check(headers("s3cret"), BODY.encode())
    assert event_for(payload, "chat") == "chat version 7" and event_for(payload, "other") is None
    with pytest.raises(Refused, match="already received"):
        verifier.check(headers("s3cret"), BODY.encode())


@pytest.mark.parametrize("change, reason", [
    (lambda h, b: (headers("wrong"), b), "bad signature"),
    (lambda h, b: (h, b.replace(b'"7"', b'"8"')), "bad signature"),
    (lambda h, b: (headers("s3cret", stamp=int(time.time()) - 3600), b), "stale delivery"),
    (lambda h, b: ({k: v for k, v in h.items() if k != "X-MLflow-Signature"}, b), "unsigned delivery"),
])
def test_forged_tampered_stale_and_unsigned_deliveries_are_refused(change, reason):
    h, b = change(headers("s3cret"), BODY.encode())
    with pytest.raises(Refused, match=reason):
        Verifier("s3cret").check(h, b)


def test_an_endpoint_without_a_secret_is_refused():
    with pytest.raises(ValueError, match="needs a secret"):
        Verifier("")


def test_the_endpoint_wakes_the_watcher_on_a_new_version_only():
    events: list[str] = []
    endpoint = Endpoint("127.0.0.1", 0, Verifier("s3cret"), "chat", events.append, say=lambda _: None).start()
    host, port = endpoint.address
    try:
        def post(h, body=BODY):
            request = urllib.request.Request(f"http://{host}:{port}/hook", data=body.encode(), headers=h)
            with urllib.request.urlopen(request, timeout=10) as answer:
                return answer.status, answer.read().decode()

        assert post(headers("s3cret")) == (200, "accepted\n")
        tag = json.dumps({"entity": "model_version_tag", "action": "set", "data": {"name": "chat", "version": "7"}})
        assert post(headers("s3cret", "d-2", body=tag), tag) == (200, "ignored: not a new version of chat\n")
        with pytest.raises(urllib.error.HTTPError) as refused:
            post(headers("wrong", "d-3"))
        assert refused.value.code == 401
        assert events == ["chat version 7"]
    finally:
        endpoint.close()
