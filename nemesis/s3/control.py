"""Client of the moto server's fault-rule endpoint (``/_nemesis/rules``).

    c = RuleControl(server.endpoint_url)
    added = c.add("error-after method=PUT key=*/meta count=1")   # -> [rule dicts with ids]
    c.rules()                                                     # -> [rule dicts with matched/hits]
    c.clear()                                                     # -> the cleared rules with their counts

Rules are checked locally first (:func:`nemesis.s3.rules.parse`), so a bad
rule raises :class:`~nemesis.s3.rules.RuleError` before anything is sent; a
refusal by the server raises :class:`ControlError` with its message. Plain
``urllib``: no boto3, no moto in the caller.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from nemesis.s3.rules import Rule, parse
from nemesis.errors import Stopped


class ControlError(Stopped):
    """The control endpoint could not be reached or refused a request."""


class RuleControl:
    def __init__(self, endpoint_url: str, timeout: float = 10.0) -> None:
        self.url = endpoint_url.rstrip("/") + "/_nemesis/rules"
        self.timeout = timeout

    def _req(self, method: str, body: Any = None, query: str = "") -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + query, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            try:
                msg = json.loads(e.read()).get("error", "")
            except ValueError:
                msg = ""
            raise ControlError(f"{method} {self.url}: {e.code} {msg}".rstrip()) from None
        except (urllib.error.URLError, OSError) as e:
            raise ControlError(f"{method} {self.url}: cannot reach the moto server ({e})") from None

    def add(self, *rules: str | dict[str, Any] | Rule) -> list[dict[str, Any]]:
        """Add rules (text, JSON objects or :class:`Rule`); returns them with their ids."""
        specs = [r.to_json() if isinstance(r, Rule) else parse(r).to_json() for r in rules]
        return self._req("POST", {"rules": specs})["added"]

    def rules(self) -> list[dict[str, Any]]:
        """The rules in force, each with ``matched`` (requests it matched) and ``hits`` (faults it fired)."""
        return self._req("GET")["rules"]

    def fired(self) -> dict[str, int]:
        """Faults fired per mode over the server's life."""
        return self._req("GET")["fired"]

    def clear(self, ids: list[int] | None = None) -> list[dict[str, Any]]:
        """Remove the rules ``ids`` (all when None); returns them with their final counts."""
        query = "" if ids is None else "?ids=" + ",".join(str(i) for i in ids)
        return self._req("DELETE", query=query)["cleared"]
