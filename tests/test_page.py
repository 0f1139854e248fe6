"""The web page as the Starlette app serves it: the SPA routes, caching, and path safety.

A small stand-in build (an index.html and a hashed asset in a temporary folder) keeps these
tests independent of Node; tests/browser/ drives the real build in Chromium.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from api.app import create_app
from nocturne_crawl.config import Config

INDEX = "<!doctype html><title>Nocturne</title><div id=root></div>"


@pytest.fixture
def static_dir(tmp_path: Path) -> Path:
    root = tmp_path / "static"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text(INDEX)
    (root / "assets" / "index-AbC123.js").write_text("console.log('page')")
    (tmp_path / "secret.txt").write_text("not for the web")
    return root


@pytest.fixture
def page_client(db: str, config: Config, static_dir: Path) -> Iterator[TestClient]:
    with TestClient(create_app(config, conninfo=db, static_dir=static_dir)) as client:
        yield client


@pytest.mark.parametrize(
    "path", ["/", "/?city=ca--los-angeles", "/unsubscribe?token=abc.def", "/unsubscribe"]
)
def test_page_paths_serve_the_index_uncached(page_client, path):
    response = page_client.get(path)
    assert response.status_code == 200
    assert response.text == INDEX
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-cache"
    assert "script-src" not in response.headers["content-security-policy"]
    assert "default-src 'self'" in response.headers["content-security-policy"]


def test_hashed_assets_are_cached_for_a_year(page_client):
    response = page_client.get("/assets/index-AbC123.js")
    assert response.status_code == 200
    assert response.text == "console.log('page')"
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"


def test_api_routes_take_precedence_over_the_page(page_client):
    assert page_client.get("/cities").json()["cities"][0]["id"] == "ca--los-angeles"
    response = page_client.post("/unsubscribe", json={"token": "bogus"})
    assert response.status_code == 400
    assert "error" in response.json()


def test_unknown_paths_are_json_404_for_api_clients_and_the_page_for_browsers(page_client):
    api = page_client.get("/no-such-thing", headers={"Accept": "application/json"})
    assert api.status_code == 404
    assert api.json() == {"error": "not found"}
    missing_asset = page_client.get("/assets/gone-123.js")
    assert missing_asset.status_code == 404
    browser = page_client.get("/somewhere/deep", headers={"Accept": "text/html"})
    assert browser.status_code == 200
    assert browser.text == INDEX


@pytest.mark.parametrize(
    "path", ["/%2e%2e/secret.txt", "/assets/%2e%2e/%2e%2e/secret.txt", "/..%2fsecret.txt"]
)
def test_no_path_leaves_the_static_folder(page_client, path):
    response = page_client.get(path, headers={"Accept": "application/json"})
    assert response.status_code == 404
    assert "not for the web" not in response.text


def test_writes_to_the_page_are_refused_with_json(page_client):
    response = page_client.post("/", json={})
    assert response.status_code == 405
    assert response.json() == {"error": "method not allowed"}


def test_unbuilt_page_answers_with_a_hint_not_a_500(db, config, tmp_path):
    with TestClient(create_app(config, conninfo=db, static_dir=tmp_path / "absent")) as client:
        response = client.get("/")
        assert response.status_code == 503
        assert "make web" in response.json()["error"]
        assert client.get("/assets/index.js").status_code == 404
        assert client.get("/health").json() == {"status": "ok"}


def test_page_preloads_the_city_list_and_the_shared_citys_events(page_client):
    links = page_client.get("/?city=ca--los-angeles").headers["link"]
    assert "</cities>; rel=preload; as=fetch; crossorigin" in links
    assert "</events/ca--los-angeles?limit=500>; rel=preload; as=fetch; crossorigin" in links
    assert "/events/" not in page_client.get("/").headers["link"]
    hostile = page_client.get("/?city=%3E;%20rel=stylesheet").headers["link"]
    assert "/events/" not in hostile and "stylesheet" not in hostile


def test_preloaded_events_url_matches_the_pages_request():
    # The preload only helps if web/src/api.ts asks for exactly this URL.
    from api.page import EVENTS_LIMIT
    from nocturne_crawl.config import REPO_ROOT

    source = (REPO_ROOT / "web" / "src" / "api.ts").read_text()
    assert f"export const EVENTS_LIMIT = {EVENTS_LIMIT};" in source
