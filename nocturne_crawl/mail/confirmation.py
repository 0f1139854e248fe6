"""The double opt-in mail (NOCTURNE_CONFIRM_SUBSCRIPTIONS=1), logged in email_logs."""

from __future__ import annotations

import logging
from datetime import timedelta

import psycopg
from psycopg_pool import AsyncConnectionPool

from nocturne_crawl.cities import City
from nocturne_crawl.config import Config
from nocturne_crawl.mail.compose import confirmation_message
from nocturne_crawl.mail.transport import MailError, make_transport

log = logging.getLogger(__name__)

# One confirmation mail per subscription per hour at most: subscribing someone else's
# address over and over must not turn Nocturne into a mail cannon.
RESEND_AFTER = timedelta(hours=1)


async def send_confirmation(
    config: Config, pool: AsyncConnectionPool, subscription_id: int, email: str, city: City
) -> str:
    """Send the confirmation mail unless one went out recently; the email_logs status."""
    try:
        async with pool.connection() as conn:
            log_id = await _claim(conn, subscription_id, email, city)
            await conn.commit()  # the claim is visible before the mail leaves
            if log_id is None:
                return "skipped"
            mail = confirmation_message(
                config,
                subscription_id=subscription_id,
                email=email,
                city=city,
                message_id=f"confirm.{log_id}",
            )
            status, error = "sent", None
            try:
                async with make_transport(config) as transport:
                    await transport.send(mail)
            except MailError as exc:
                status, error = "failed", str(exc)
                log.warning("confirmation mail to subscription %s failed: %s", subscription_id, exc)
            await conn.execute(
                """UPDATE email_logs SET status = %s, error = %s, message_id = %s,
                          finished_at = now() WHERE id = %s""",
                (status, error, mail.message_id, log_id),
            )
            await conn.commit()
            return status
    except psycopg.Error as exc:
        # A background task has no client to answer; the subscriber can ask again.
        log.error("confirmation mail for subscription %s not sent: %s", subscription_id, exc)
        return "failed"


async def _claim(
    conn: psycopg.AsyncConnection, subscription_id: int, email: str, city: City
) -> int | None:
    subject = f"Confirm your Nocturne digest for {city.name.title()}"
    try:
        cur = await conn.execute(
            """INSERT INTO email_logs (subscription_id, email, subject, status, kind)
                SELECT %s, %s, %s, 'pending', 'confirm'
                 WHERE NOT EXISTS (
                       SELECT 1 FROM email_logs
                        WHERE subscription_id = %s AND kind = 'confirm'
                          AND status IN ('sent', 'pending')
                          AND created_at > now() - %s)
                RETURNING id""",
            (subscription_id, email, subject, subscription_id, RESEND_AFTER),
        )
    except psycopg.errors.UniqueViolation:
        await conn.rollback()
        return None  # another request is sending it right now
    row = await cur.fetchone()
    return row[0] if row else None
