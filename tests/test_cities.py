import json

import pytest

from nocturne_crawl.cities import CATALOG_PATH, CatalogError, catalog, load_catalog


def test_catalog_has_los_angeles_and_new_york_first_and_twenty_cities():
    cities = list(catalog().values())
    assert len(cities) >= 20
    assert [c.id for c in cities[:2]] == ["ca--los-angeles", "ny--new-york"]
    la = cities[0]
    assert la.name == "LOS ANGELES"
    assert la.slug == "los-angeles"
    assert (la.lat, la.lng) == (34.0522, -118.2437)
    assert la.timezone == "America/Los_Angeles"
    ids = {c.id for c in cities}
    assert {"united-kingdom--london", "germany--berlin"} <= ids


def test_every_city_has_each_source_key():
    for city in catalog().values():
        assert city.eventbrite["slug"] == city.id
        assert city.meetup["location"]
        assert city.luma.get("place") or city.luma.get("latitude") is not None


def _write(tmp_path, entries):
    path = tmp_path / "cities.json"
    path.write_text(json.dumps({"cities": entries}))
    return path


def _good():
    return json.loads(CATALOG_PATH.read_text())["cities"][0]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"timezone": "Mars/Olympus"}, "timezone 'Mars/Olympus'"),
        ({"name": "Los Angeles"}, "uppercase"),
        ({"id": "Los Angeles"}, "id must look like"),
        ({"coordinates": {"lat": 134.0, "lng": 0}}, "coordinates.lat"),
        (
            {"sources": {"eventbrite": {"slug": "x--y"}, "meetup": {}, "luma": {"place": "p"}}},
            "meetup.location",
        ),
    ],
)
def test_bad_entry_is_a_clear_error_naming_it(tmp_path, change, message):
    bad = {**_good(), **change}
    path = _write(tmp_path, [_good() | {"id": "xx--first"}, bad])
    with pytest.raises(CatalogError) as info:
        load_catalog(path)
    assert "entry 1" in str(info.value)
    assert message in str(info.value)


def test_duplicate_ids_are_refused(tmp_path):
    path = _write(tmp_path, [_good(), _good()])
    with pytest.raises(CatalogError, match="duplicate id"):
        load_catalog(path)
