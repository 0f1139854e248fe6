from datetime import UTC, date, datetime

import pytest

from nocturne_crawl.links import canonical_link
from nocturne_crawl.localtime import combine_local, local_date_time, local_day_bounds


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            "HTTPS://WWW.Eventbrite.COM/e/rave-tickets-123/?aff=ebdssbdestsearch&utm_source=x#tickets",
            "https://www.eventbrite.com/e/rave-tickets-123",
        ),
        (
            "https://www.meetup.com/sfugcgn/events/290308810/",
            "https://www.meetup.com/sfugcgn/events/290308810",
        ),
        ("https://luma.com/abc123?ref=discover&tk=keep", "https://luma.com/abc123?tk=keep"),
        ("https://luma.com:443/abc?_gl=1*xyz", "https://luma.com/abc"),
        ("http://example.com:8080", "http://example.com:8080/"),
        ("javascript:alert(1)", None),
        ("ftp://example.com/x", None),
        ("not a url", None),
        ("", None),
    ],
)
def test_canonical_link(raw, expected):
    assert canonical_link(raw) == expected


def test_local_date_time_across_midnight():
    # 05:30 UTC on the 16th is still the evening of the 15th in Los Angeles.
    instant = datetime(2026, 2, 16, 5, 30, tzinfo=UTC)
    assert local_date_time(instant, "America/Los_Angeles") == ("2026-02-15", "21:30")
    assert local_date_time(instant, "Europe/Berlin") == ("2026-02-16", "06:30")


def test_combine_local_uses_the_zone_and_dst():
    winter = combine_local("2026-01-10", "22:00", "America/New_York")
    summer = combine_local("2026-07-10", "22:00", "America/New_York")
    assert winter.astimezone(UTC).hour == 3
    assert summer.astimezone(UTC).hour == 2
    assert combine_local("2026-07-10", None, "UTC").hour == 0


def test_local_day_bounds_on_dst_change_day_is_23_hours():
    start, end = local_day_bounds(date(2026, 3, 8), "America/Los_Angeles")
    assert (end - start).total_seconds() == 23 * 3600
    assert start == datetime(2026, 3, 8, 8, 0, tzinfo=UTC)


def test_naive_instant_is_refused():
    with pytest.raises(ValueError):
        local_date_time(datetime(2026, 1, 1), "UTC")
