"""Crawl health rules, and their use of earlier runs stored in PostgreSQL."""

import psycopg

from nocturne_crawl.health import assess, coverage_from_stats, judge


def _stats(spider, items, **with_fields):
    stats = {f"nocturne/{spider}/items": items}
    stats.update({f"nocturne/{spider}/with/{k}": v for k, v in with_fields.items()})
    return stats


def test_coverage_is_the_share_of_items_with_each_field():
    items, coverage = coverage_from_stats(_stats("luma", 40, location=30, description=0), "luma")
    assert items == 40
    assert coverage == {"location": 0.75, "description": 0.0}


def test_first_run_is_ok_and_a_steady_run_is_ok():
    assert judge(50, {"location": 0.9}, []).status == "ok"
    history = [(48, {"location": 0.92}), (52, {"location": 0.9})]
    assert judge(45, {"location": 0.88}, history).status == "ok"


def test_no_events_where_there_used_to_be_many_is_degraded():
    health = judge(0, {}, [(120, {"location": 0.9}), (110, {"location": 0.9})])
    assert health.status == "degraded"
    assert health.notes == ["returned no events (usually 115)"]


def test_a_field_that_stopped_being_filled_is_degraded():
    history = [(100, {"location": 0.95, "description": 0.9, "price": 0.1})] * 3
    health = judge(100, {"location": 0.0, "description": 0.88, "price": 0.0}, history)
    assert health.status == "degraded"
    assert health.notes == ["lost field location: 0% of items (usually 95%)"]


def test_a_small_source_going_quiet_is_not_an_alarm():
    assert judge(0, {}, [(3, {"location": 1.0})]).status == "ok"


def test_assess_reads_the_same_city_and_source_recent_finished_runs(db):
    with psycopg.connect(db, autocommit=True) as conn:
        for i, (spider, city, status) in enumerate(
            [
                ("meetup", "ca--los-angeles", "finished"),
                ("meetup", "ca--los-angeles", "finished"),
                ("meetup", "ca--los-angeles", "failed"),
                ("luma", "ca--los-angeles", "finished"),
                ("meetup", "ny--new-york", "finished"),
            ]
        ):
            conn.execute(
                """INSERT INTO crawl_runs (job_id, run_id, city, spider, status, finished_at, stats)
                   VALUES (%s, %s, %s, %s, %s, now(), %s)""",
                (
                    f"j{i}",
                    f"r{i}",
                    city,
                    spider,
                    status,
                    psycopg.types.json.Jsonb(_stats(spider, 80, location=76)),
                ),
            )
        degraded = assess(
            conn, "ca--los-angeles", "meetup", "now", _stats("meetup", 80, location=0)
        )
        steady = assess(conn, "ca--los-angeles", "meetup", "now", _stats("meetup", 79, location=75))
        fresh = assess(conn, "tx--austin", "meetup", "now", _stats("meetup", 0))
    assert degraded.status == "degraded" and "lost field location" in degraded.notes[0]
    assert steady.status == "ok"
    assert fresh.status == "ok"
