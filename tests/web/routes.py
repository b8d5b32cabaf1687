"""Routes from the URL map, with sample values for their arguments.

The access, CSRF and header sweeps are built from this, so a route added
later is swept without anyone remembering. A route whose argument has no
sample value makes the sweeps fail with a message saying what to add.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, url_for

IGNORED_METHODS = {"HEAD", "OPTIONS"}


@dataclass(frozen=True)
class Route:
    """One (endpoint, method) pair, with a concrete URL."""

    endpoint: str
    method: str
    url: str

    def __str__(self) -> str:
        return f"{self.method} {self.url} ({self.endpoint})"


def routes(app: Flask, samples: dict[str, str | int]) -> list[Route]:
    """Every endpoint and method in the URL map except static files."""
    found = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        missing = set(rule.arguments) - set(samples)
        assert not missing, f"add sample values for {sorted(missing)} (route {rule.rule})"
        with app.test_request_context():
            url = url_for(rule.endpoint, **{name: samples[name] for name in rule.arguments})
        for method in sorted((rule.methods or set()) - IGNORED_METHODS):
            found.append(Route(rule.endpoint, method, url))
    return found


def officer_routes(app: Flask, samples: dict[str, str | int]) -> list[Route]:
    """Routes under /triage/."""
    return [r for r in routes(app, samples) if r.endpoint.startswith("triage.")]
