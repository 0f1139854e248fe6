"""Embedded JSON: decoded by a JSON decoder from its first brace, never by a greedy regex."""

from __future__ import annotations

from nocturne_crawl.embedded_json import decode_assignment, decode_script_by_id, ld_json_blocks

MARKER = "window.__SERVER_DATA__ ="


def test_stops_at_the_value_s_own_end_even_with_braces_in_strings():
    text = (
        '<script>window.__SERVER_DATA__ = {"a": "};</script>", "b": [1, {"c": "{"}]};'
        ' window.__REACT_QUERY_STATE__ = {"queries": []};</script>'
    )
    assert decode_assignment(text, MARKER) == {"a": "};</script>", "b": [1, {"c": "{"}]}


def test_skips_a_mention_of_the_marker_that_assigns_nothing():
    text = '<!-- window.__SERVER_DATA__ = undefined --><script>window.__SERVER_DATA__ = {"x": 1};'
    assert decode_assignment(text, MARKER) == {"x": 1}


def test_truncated_or_missing_payloads_give_none():
    assert decode_assignment('<script>window.__SERVER_DATA__ = {"a": [1, 2', MARKER) is None
    assert decode_assignment("<html><body>Checking your browser</body></html>", MARKER) is None


def test_next_data_script_by_id():
    html = '<script id="__NEXT_DATA__" type="application/json">\n{"props": {"x": [1]}}</script>'
    assert decode_script_by_id(html, "__NEXT_DATA__") == {"props": {"x": [1]}}
    assert decode_script_by_id('<script id="__NEXT_DATA__">{"cut', "__NEXT_DATA__") is None
    assert decode_script_by_id("<p>no script</p>", "__NEXT_DATA__") is None


def test_ld_json_blocks_skip_broken_ones():
    html = (
        '<script type="application/ld+json">{"@type": "ItemList"}</script>'
        '<script type="application/ld+json">{broken</script>'
        '<script type=\'application/ld+json\'>[{"@type": "Event"}]</script>'
    )
    assert ld_json_blocks(html) == [{"@type": "ItemList"}, [{"@type": "Event"}]]
