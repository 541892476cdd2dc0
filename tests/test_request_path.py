"""The request path's shortcuts answer what the long way answers (they exist for speed only)."""

from __future__ import annotations

from sandbox.engine import Engine, Settings, path_keeping_encoded_slashes

ENGINE = Engine(Settings())


def scanned(engine: Engine, path: str) -> object:
    """`service_for` the long way: every mount, longest first."""
    return next((s for s in engine.services if path == s.mount or path.startswith(s.mount + "/")), None)


def test_the_service_for_a_path_is_the_one_a_scan_of_every_mount_finds() -> None:
    paths = ["", "/", "//", "/payt", "/payt/", "/payt/v1/tasks/1", "/paytx/v1", "/debitura", "/debitura/v1"]
    paths += ["/debitura/v1/cases", "/debitura/v2/cases", "/__sandbox/health", "/__sandbox", "/x/payt/v1", "payt/v1"]
    paths += [service.mount + suffix for service in ENGINE.services for suffix in ("", "/", "/a/b", "x", "%2Fa")]
    for path in paths:
        assert ENGINE.service_for(path) is scanned(ENGINE, path), path


def test_a_mount_at_the_root_makes_every_path_look_at_every_service() -> None:
    engine = Engine(Settings(only=["payt"]))
    root = next(service for service in engine.services if service.mount == "/payt")
    root.mount = ""  # as a provider mounted at the root would be
    engine.services.sort(key=lambda s: len(s.mount), reverse=True)
    engine.index_mounts()
    for path in ("/v1/tasks/1", "/__sandbox/health", "/anything"):
        assert engine.service_for(path) is scanned(engine, path), path


def test_a_path_with_nothing_percent_encoded_routes_as_decoded() -> None:
    assert path_keeping_encoded_slashes({"path": "/v1/tasks/1", "raw_path": b"/v1/tasks/1"}) == "/v1/tasks/1"
    assert path_keeping_encoded_slashes({"path": "/v1/a b", "raw_path": b"/v1/a%20b"}) == "/v1/a b"
    assert path_keeping_encoded_slashes({"path": "/v1/a/b", "raw_path": b"/v1/a%2Fb"}) == "/v1/a%2Fb"
    assert path_keeping_encoded_slashes({"path": "/v1/x", "raw_path": b"/v1/y"}) == "/v1/x"  # disagreeing: path
