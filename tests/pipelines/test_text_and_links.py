"""Plain text and canonical links: examples, and properties over arbitrary input."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nocturne_crawl.links import _SIMPLE_LINK_RE, _canonical_link_by_splitting, canonical_link
from pipelines.text import _clean, plain_text

# Fragments that make markup, entities and escaped markup more likely than random text.
html_ish = st.lists(
    st.sampled_from(
        list("<>&;#/=\"' abcx1\n\t\r\x00")
        + ["&amp;", "&lt;", "&gt;", "<p>", "</p>", "<br>", "<b>", "&#", "<!--", "-->", "<script>"]
    ),
    max_size=40,
).map("".join)
url_ish = st.one_of(
    st.text(max_size=120),
    st.builds(
        lambda scheme, host, path, query, frag: f"{scheme}://{host}{path}?{query}#{frag}",
        st.sampled_from(["http", "https", "HTTPS", "ftp", "javascript"]),
        st.text(min_size=0, max_size=20),
        st.text(max_size=30),
        st.text(max_size=30),
        st.text(max_size=10),
    ),
    st.sampled_from(
        [
            "https://www.eventbrite.com/e/x-1/?aff=a&utm_source=b&keep=1#f",
            "https://xn--bcher-kva.de/%C3%9C?x=%C3%A4",
            "http://[::1]:8080/a//b/",
            "https://a.com/%zz?q=%&q=%25",
        ]
    ),
)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=300), html_ish))
def test_plain_text_is_idempotent_and_never_raises(raw):
    once = plain_text(raw)
    assert plain_text(once) == once
    multi = plain_text(raw, multiline=True)
    assert plain_text(multi, multiline=True) == multi
    if once is not None:
        assert once == once.strip() and "\x00" not in once and "<p>" not in once


@settings(max_examples=1000)
@given(st.one_of(st.text(max_size=120), html_ish))
def test_the_single_line_shortcut_agrees_with_the_full_cleaning(raw):
    """A field without markup or control characters skips `_clean`: same result."""
    assert plain_text(raw) == (_clean(raw, multiline=False) or None)


@settings(max_examples=200)
@given(st.text(max_size=300), st.integers(min_value=1, max_value=50))
def test_plain_text_respects_the_length_cap(raw, cap):
    text = plain_text(raw, cap, multiline=True)
    assert text is None or len(text) <= cap
    assert plain_text(text, cap, multiline=True) == text


@settings(max_examples=500)
@given(url_ish)
def test_canonical_link_is_idempotent_ascii_and_never_raises(raw):
    link = canonical_link(raw)
    if link is not None:
        assert canonical_link(link) == link
        assert link.isascii() and link.startswith(("http://", "https://"))
        assert not any(ch.isspace() for ch in link) and "#" not in link


def test_plain_text_strips_tags_scripts_and_entities():
    raw = '<div class="x"><p>Doors&nbsp;at <b>9</b> &amp; late</p><script>alert(1)</script><p>2nd</p></div>'
    assert plain_text(raw, multiline=True) == "Doors at 9 & late\n\n2nd"
    assert plain_text(raw) == "Doors at 9 & late 2nd"


def test_plain_text_keeps_line_breaks_only_when_multiline():
    assert plain_text("one<br>two\r\nthree", multiline=True) == "one\ntwo\nthree"
    assert plain_text("one<br>two\r\nthree") == "one two three"


def test_double_escaped_markup_is_cleaned_to_a_fixed_point():
    assert plain_text("&lt;b&gt;Bold&lt;/b&gt; &amp;amp; co") == "Bold & co"


def test_plain_text_of_nothing_is_none():
    assert plain_text(None) is None
    assert plain_text(" <p> </p> \x00") is None


def test_canonical_link_tracking_fragment_and_trailing_slash():
    raw = "HTTPS://www.Eventbrite.com/e/rave-123/?utm_medium=x&aff=y&ref=z&_gl=1&id=7#tix"
    assert canonical_link(raw) == "https://www.eventbrite.com/e/rave-123?id=7"


def test_canonical_link_refuses_unicode_spaces_and_encodes_unicode():
    assert canonical_link("https://luma.com/a\u2028b") is None
    assert canonical_link("https://bücher.de/Ü") == "https://xn--bcher-kva.de/%C3%9C"
    assert canonical_link("https://user:pw@luma.com/x") == "https://luma.com/x"


# URLs of the fast path's shape (each part drawn from what that shape allows), and near
# misses with one part spoiled (upper case, ports, user info, '%', '+', ';',
# underscores, trailing dots, non-ASCII, spaces) that must fall through to the slow way.
_clean_scheme = st.sampled_from(["https", "http"])
_spoiled_scheme = st.sampled_from(["HTTPS", "Http", "ftp", "", "https:", "javascript"])
_clean_host = st.one_of(
    st.from_regex(r"\A[a-z0-9][a-z0-9.-]{0,12}[a-z0-9]\Z"),
    st.sampled_from(["luma.com", "www.meetup.com", "a..b", "a", "0", "a-b.c"]),
)
_spoiled_host = st.one_of(
    st.builds(
        lambda host, suffix: host + suffix,
        _clean_host,
        st.sampled_from([".", "..", ":443", ":80", ":8080", ":", ":x", "_", "A", "ü", " "]),
    ),
    st.builds(
        lambda prefix, host: prefix + host,
        st.sampled_from(["u@", "u:p@", "@", "-", ".", "_", "W", "[", "xn--ü"]),
        _clean_host,
    ),
    st.sampled_from(["www.Meetup.com", "a_b.com", "[::1]", "[::1]:443", "bücher.de", ""]),
)
_clean_path = st.one_of(
    st.just(""),
    st.lists(
        st.one_of(
            st.text(alphabet="abcXYZ019_.~:@!$&'()*+,;=-", max_size=6),
            st.sampled_from(["/", "//"]),
        ),
        max_size=8,
    ).map(lambda pieces: "/" + "".join(pieces)),
)
_spoiled_path = st.builds(
    lambda head, bad, tail: head + bad + tail,
    _clean_path,
    st.sampled_from(["%41", "%", "ü", " ", '"', "<", "\\", "x\x00"]),
    _clean_path,
)
_query_name = st.one_of(
    st.sampled_from(["utm_source", "utm_x", "UTM_Medium", "aff", "ref", "_gl", "source", "Ref"]),
    st.sampled_from(["id", "tk", "x", "", "ref_src2", "a.b", "~-_"]),
    st.text(alphabet="aZ09._~-", max_size=5),
)
_query_piece = st.one_of(
    st.builds(lambda n, v: f"{n}={v}", _query_name, st.text(alphabet="aZ09._~=-", max_size=6)),
    _query_name,
    st.sampled_from(["", "=", "==", "x==", "=1=2"]),
)
_clean_query = st.one_of(
    st.just(""),
    st.lists(_query_piece, max_size=6).map(lambda pieces: "?" + "&".join(pieces)),
)
_spoiled_query = st.builds(
    lambda head, bad, tail: head + bad + tail,
    _clean_query.map(lambda q: q or "?"),
    st.sampled_from(["a+b", "%20", "%", "a;b", "ü", " ", "?", "/"]),
    _clean_query.map(lambda q: q.replace("?", "&")),
)
_clean_fragment = st.one_of(
    st.just(""),
    st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=8).map(
        lambda f: "#" + f
    ),
)
_spoiled_fragment = st.one_of(
    st.sampled_from(["# ", "#a b", "#\x7f", "#ü", "#\t"]),
    st.text(min_size=1, max_size=4).map(lambda f: "#" + f),
)


def _link(scheme: str, host: str, path: str, query: str, fragment: str) -> str:
    return f"{scheme}://{host}{path}{query}{fragment}"


_clean_parts = [_clean_scheme, _clean_host, _clean_path, _clean_query, _clean_fragment]
_spoiled_parts = [_spoiled_scheme, _spoiled_host, _spoiled_path, _spoiled_query, _spoiled_fragment]
simple_link_ish = st.builds(_link, *_clean_parts)
# One part spoiled and the rest clean: the closest misses, one strategy per part.
near_miss_links = [
    st.builds(_link, *_clean_parts[:i], spoiled, *_clean_parts[i + 1 :])
    for i, spoiled in enumerate(_spoiled_parts)
]


@settings(max_examples=2000)
@given(
    st.one_of(
        simple_link_ish,
        *near_miss_links,
        simple_link_ish.map(lambda u: f" {u}\n"),
        url_ish,
    )
)
def test_canonical_link_fast_path_agrees_with_splitting(raw):
    assert canonical_link(raw) == _canonical_link_by_splitting(raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://luma.com/abc123", "https://luma.com/abc123"),
        (
            "https://www.meetup.com/some-group/events/301234567/",
            "https://www.meetup.com/some-group/events/301234567",
        ),
        (
            "https://www.eventbrite.com/e/x-1?utm_source=b&aff=x&ref=r&_gl=1&UTM_x=2&id=7#tix",
            "https://www.eventbrite.com/e/x-1?id=7",
        ),
        ("https://a.com", "https://a.com/"),
        ("https://a.com///?#", "https://a.com/"),
        ("http://a.com/b//?x", "http://a.com/b?x="),
        ("https://a.com/e?a&&b", "https://a.com/e?a=&b="),
        ("https://a.com/e?x=1=2&&=", "https://a.com/e?x=1%3D2&="),
        ("https://a.com/e?aff&utm_source", "https://a.com/e"),
        ("https://a.com/e?" + "x" * 2048, None),
    ],
)
def test_canonical_link_on_the_fast_path(raw, expected):
    assert _SIMPLE_LINK_RE.fullmatch(raw)  # the property test above is not vacuous
    assert canonical_link(raw) == expected == _canonical_link_by_splitting(raw)


@pytest.mark.parametrize(
    "raw",
    [
        "HTTPS://a.com/x",
        "https://A.com/x",
        "https://a.com:443/x",
        "https://a.com./x",
        "https://u@a.com/x",
        "https://a_b.com/x",
        "https://a.com/%41",
        "https://a.com/x?q=a+b",
        "https://a.com/x?q=%41",
        "https://a.com/x?a=1;b=2",
        " https://a.com/x",
        "https://a.com/a b",
        "https://a.com/x#a b",
        "http://a.com:80/x",
    ],
)
def test_canonical_link_near_misses_go_the_slow_way(raw):
    assert not _SIMPLE_LINK_RE.fullmatch(raw)
    assert canonical_link(raw) == _canonical_link_by_splitting(raw)


def _image_url_by_splitting(value: object) -> str | None:
    """image_url without its fast path: the rule it must agree with."""
    from pipelines.validate import MAX_URL, http_url_by_splitting

    if not isinstance(value, str):
        return None
    url = value.strip()
    if not url or len(url) > MAX_URL:
        return None
    return http_url_by_splitting(url)


@given(
    st.one_of(
        st.text(),
        st.from_regex(r"\A(?i:https?)://[a-z0-9.\[\]:-]{0,12}([/?#][ -~]{0,20})?\Z"),
    )
)
def test_image_url_fast_path_agrees_with_splitting(text):
    from pipelines.validate import image_url

    assert image_url(text) == _image_url_by_splitting(text)
    assert image_url(f" {text} ") == _image_url_by_splitting(f" {text} ")


def test_image_urls_kept_and_refused():
    from pipelines.validate import image_url

    assert image_url("https://img.example.com/1.jpg?w=10&sig=a%2Fb") == (
        "https://img.example.com/1.jpg?w=10&sig=a%2Fb"
    )
    assert image_url("HTTP://IMG.example.com") == "HTTP://IMG.example.com"
    assert image_url("http://[::1/x.png") is None
    assert image_url("ftp://img.example.com/1.jpg") is None
    assert image_url("https:///1.jpg") is None
    assert image_url("https://img.example.com/a b.jpg") is None
