"""One event listed on Eventbrite and on Meetup: the pair the dedupe and mirror tests use.

The two listings differ in title spelling, start (15 minutes), venue text and coordinates
(~90 m), as two sites' listings of one event do; keyword arguments change any field.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.support.pipeline_runs import make_item

START = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(days=3)


def eventbrite(**fields):
    base = dict(
        title="Warehouse Night: Techno Til Dawn",
        link="https://www.eventbrite.com/e/warehouse-night-777",
        source="eventbrite",
        starts_at=START,
        location="The Warehouse, 100 Main St, Los Angeles",
        latitude=34.0500,
        longitude=-118.2400,
        description=None,
        image_url=None,
        source_id=None,
    )
    return make_item(**{**base, **fields})


def meetup(**fields):
    base = dict(
        title="WAREHOUSE NIGHT – Techno til Dawn!",
        link="https://www.meetup.com/la-techno/events/301",
        source="meetup",
        starts_at=START + timedelta(minutes=15),
        location="The Warehouse",
        latitude=34.0508,  # ~90 m away
        longitude=-118.2405,
        description=None,
        image_url=None,
        source_id=None,
    )
    return make_item(**{**base, **fields})
