"""Secrets in URLs are masked wherever optflow shows them: URLs, error text, log lines."""

from __future__ import annotations

import logging

import pytest

from optflow.urls import MaskSecrets, brief_error, mask_password, mask_text, secrets_in


@pytest.mark.parametrize(
    "url,masked,secret",
    [
        ("postgresql://bob:hunter2@db:5432/optuna", "postgresql://bob:***@db:5432/optuna", "hunter2"),
        ("http://token123@mlflow.example.org", "http://***@mlflow.example.org", "token123"),
        ("https://ghp_0123456789abcdefghij@host/x", "https://***@host/x", "ghp_0123456789abcdefghij"),
        ("postgresql://bob:pa/ss@db/optuna", "postgresql://bob:***@db/optuna", "pa/ss"),
        ("postgresql://db/optuna?sslmode=require&sslpassword=k3y", "sslpassword=***", "k3y"),
        ("http://host/api?access_token=abc&x=1", "access_token=***", "abc"),
    ],
)
def test_every_kind_of_secret_is_masked_and_listed(url, masked, secret):
    assert masked in mask_password(url) and secret not in mask_password(url)
    assert secret in secrets_in(url)


@pytest.mark.parametrize("url", ["sqlite:///optuna.db", "postgresql://postgres@localhost/db", "http://127.0.0.1:5000"])
def test_urls_without_secrets_are_shown_as_they_are(url):
    assert mask_password(url) == url and secrets_in(url) == []


def test_urls_inside_text_and_errors_are_masked():
    text = "API request to http://u:pw1@host:5000/api/2.0 failed; storage postgresql://a:pw2@db/x."
    assert mask_text(text) == "API request to http://u:***@host:5000/api/2.0 failed; storage postgresql://a:***@db/x."
    error = ConnectionError(
        "HTTPConnectionPool(host='h', port=1): ... [Errno 111] Connection refused') at http://u:pw@h"
    )
    assert brief_error(error) == "Connection refused"


def test_log_records_are_masked_with_their_arguments_and_tracebacks(caplog):
    logger = logging.getLogger("test-mask")
    caplog.handler.addFilter(MaskSecrets())
    try:
        raise RuntimeError("cannot reach http://bob:pw3@h/")
    except RuntimeError:
        logger.exception("call to %s failed", "https://alice:pw4@mlflow/")
    assert "pw3" not in caplog.text and "pw4" not in caplog.text
    assert "https://alice:***@mlflow/" in caplog.text and "http://bob:***@h/" in caplog.text
