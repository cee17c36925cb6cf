"""One JSON request over HTTP(S) for the collection's API modules (InfluxDB 2, Elasticsearch):
returns (status, decoded body) for success and HTTP errors alike, so each API's own error
object reaches the caller; a body that is not JSON comes back under ``text_key``
(cut to ``text_limit`` characters, if given)."""

from __future__ import annotations

import json
from urllib.error import HTTPError

from ansible.module_utils.urls import open_url


def json_request(url: str, method: str, headers: dict, body: dict | None, timeout: int, text_key: str,
                 text_limit: int | None = None, **open_url_options) -> tuple[int, dict]:
    try:
        response = open_url(url, method=method, headers={"Content-Type": "application/json", **headers},
                            timeout=timeout, data=json.dumps(body) if body is not None else None,
                            **open_url_options)
        text = response.read()
        return response.status, json.loads(text) if text else {}
    except HTTPError as exc:
        text = exc.read()
        try:
            return exc.code, json.loads(text) if text else {}
        except ValueError:
            return exc.code, {text_key: text.decode(errors="replace")[:text_limit]}
