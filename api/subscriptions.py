"""`POST /subscribe`, `POST /unsubscribe` and the double opt-in `/confirm`."""

from __future__ import annotations

import logging

from email_validator import EmailNotValidError, validate_email
from psycopg.types.json import Jsonb
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from api.client_limits import SlidingWindowLimit, enforce
from api.errors import ApiError
from api.events import json_response
from api.requests import read_json_object, require_city
from nocturne_crawl.event_filters import EventFilters, FilterError
from nocturne_crawl.mail.compose import templates
from nocturne_crawl.mail.confirmation import send_confirmation
from nocturne_crawl.tokens import InvalidToken, read_token

log = logging.getLogger(__name__)


def normalize_email(raw: object) -> str:
    """The address validated (syntax only, no DNS) and lower-cased, or a 400."""
    if not isinstance(raw, str) or not raw.strip():
        raise ApiError(400, "email is required")
    if len(raw) > 320:
        raise ApiError(400, "email is too long")
    try:
        valid = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise ApiError(400, f"invalid email: {exc}") from None
    return valid.normalized.lower()


def subscribe_limit(request: Request) -> SlidingWindowLimit:
    """The app's per-client limit on POST /subscribe, made on first use."""
    state = request.app.state
    limit = getattr(state, "subscribe_limit", None)
    if limit is None:
        config = state.config
        limit = SlidingWindowLimit(
            config.subscribe_client_limit, config.subscribe_client_window_seconds
        )
        state.subscribe_limit = limit
    return limit


def parse_subscription_filters(raw: object) -> EventFilters | None:
    """The optional `filters` object of a subscribe request, or a 400."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ApiError(400, "filters must be an object with free, online and/or q")
    unknown = set(raw) - {"free", "online", "q"}
    if unknown:
        raise ApiError(400, f"unknown filter(s): {', '.join(sorted(unknown))}")
    try:
        return EventFilters.parse(raw)
    except FilterError as exc:
        raise ApiError(400, f"filters: {exc}") from None


async def subscribe(request: Request) -> Response:
    """
    summary: Subscribe an email address to a city's digest (idempotent, rate limited per client).
    description: >
      With NOCTURNE_CONFIRM_SUBSCRIPTIONS=1 a confirmation mail is sent first and no digest
      goes out until its link is followed. Optional `filters` ({free, online, q}, as on
      GET /events/{city}) narrow the digest; sending them again replaces them.
    requestBody:
      required: true
      content:
        application/json:
          schema: {$ref: '#/components/schemas/SubscribeRequest'}
    responses:
      201:
        description: A new subscription.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/Subscription'}
      200:
        description: The pair was already subscribed (re-activated if it had unsubscribed).
        content:
          application/json:
            schema: {$ref: '#/components/schemas/Subscription'}
      400: {$ref: '#/components/responses/BadRequest'}
      404: {$ref: '#/components/responses/NotFound'}
      413: {$ref: '#/components/responses/BadRequest'}
      429: {$ref: '#/components/responses/BadRequest'}
    """
    config = request.app.state.config
    enforce(subscribe_limit(request), request, "subscribe")
    data = await read_json_object(request, config.max_body_bytes)
    email = normalize_email(data.get("email"))
    city_id = data.get("city")
    if not isinstance(city_id, str) or not city_id:
        raise ApiError(400, "city is required")
    city = require_city(city_id)
    filters = parse_subscription_filters(data.get("filters"))
    stored_filters = Jsonb(filters.to_json()) if filters is not None else None
    async with request.app.state.pool.connection() as conn:
        cur = await conn.execute(
            """INSERT INTO subscriptions (email, city, filters)
                    VALUES (%(email)s, %(city)s, COALESCE(%(filters)s, '{}'::jsonb))
                ON CONFLICT (email, city) DO UPDATE
                   SET is_active = true, unsubscribed_at = NULL,
                       filters = COALESCE(%(filters)s, subscriptions.filters)
                RETURNING id, email, city, is_active, created_at, confirmed_at,
                          (xmax = 0) AS inserted""",
            {"email": email, "city": city.id, "filters": stored_filters},
        )
        row = await cur.fetchone()
    sub_id, email, city_id, is_active, created_at, confirmed_at, inserted = row
    pending = config.confirm_subscriptions and confirmed_at is None
    body = {
        "id": sub_id,
        "email": email,
        "city": city_id,
        "is_active": is_active,
        "created_at": created_at,
        # Double opt-in: no digest until the link in the confirmation mail is followed.
        "confirmation_pending": pending,
    }
    background = None
    if pending:
        # After the response: the visitor does not wait for the SMTP server.
        background = BackgroundTask(
            send_confirmation, config, request.app.state.pool, sub_id, email, city
        )
    response = json_response(body, status=201 if inserted else 200)
    response.background = background
    return response


async def _token_from(request: Request) -> str:
    token = request.query_params.get("token")
    if token:
        return token
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/json"):
        data = await read_json_object(request, request.app.state.config.max_body_bytes)
        token = data.get("token")
    if not isinstance(token, str) or not token:
        raise ApiError(400, "token is required")
    return token


# What a signed link does to its subscription (the token names id and address).
UNSUBSCRIBE_SQL = """
    UPDATE subscriptions SET is_active = false, unsubscribed_at = COALESCE(unsubscribed_at, now())
     WHERE id = %s AND email = %s
 RETURNING id, email, city, is_active, created_at"""
CONFIRM_SQL = """
    UPDATE subscriptions SET confirmed_at = COALESCE(confirmed_at, now())
     WHERE id = %s AND email = %s
 RETURNING id, email, city, is_active, created_at"""


async def _apply_token(request: Request, purpose: str, statement: str) -> dict[str, object]:
    """Run `statement` on the subscription a `purpose` token names; its public fields.

    A missing, tampered or foreign token is a 400 and changes nothing; a token for a
    subscription that no longer exists is a 404.
    """
    token = await _token_from(request)
    try:
        sub_id, email = read_token(request.app.state.config, purpose, token)
    except InvalidToken as exc:
        raise ApiError(400, str(exc)) from None
    async with request.app.state.pool.connection() as conn:
        row = await (await conn.execute(statement, (sub_id, email))).fetchone()
    if row is None:
        raise ApiError(404, "no such subscription")
    keys = ("id", "email", "city", "is_active", "created_at")
    return dict(zip(keys, row, strict=True))


async def unsubscribe(request: Request) -> Response:
    """
    summary: Deactivate the subscription named by a signed token (the link in every email).
    parameters: [{$ref: '#/components/parameters/Token'}]
    requestBody: {$ref: '#/components/requestBodies/Token'}
    responses:
      200:
        description: The subscription is inactive.
        content: {application/json: {schema: {$ref: '#/components/schemas/Subscription'}}}
      400: {$ref: '#/components/responses/BadRequest'}
      404: {$ref: '#/components/responses/NotFound'}
    """
    return json_response(await _apply_token(request, "unsubscribe", UNSUBSCRIBE_SQL))


async def confirm_page(request: Request) -> Response:
    """
    summary: Confirm a subscription from the link in the confirmation mail (a small HTML page).
    parameters:
      - {name: token, in: query, required: true, schema: {type: string}}
    responses:
      200:
        description: The subscription is confirmed.
        content:
          text/html: {schema: {type: string}}
      400:
        description: The token is missing, tampered with or foreign.
        content:
          text/html: {schema: {type: string}}
      404:
        description: No such subscription.
        content:
          text/html: {schema: {type: string}}
    """
    return await _confirm(request, as_page=True)


async def confirm(request: Request) -> Response:
    """
    summary: Confirm a subscription (double opt-in) with the signed token from the confirmation mail.
    parameters: [{$ref: '#/components/parameters/Token'}]
    requestBody: {$ref: '#/components/requestBodies/Token'}
    responses:
      200:
        description: The subscription is confirmed.
        content: {application/json: {schema: {$ref: '#/components/schemas/Subscription'}}}
      400: {$ref: '#/components/responses/BadRequest'}
      404: {$ref: '#/components/responses/NotFound'}
      413: {$ref: '#/components/responses/BadRequest'}
    """
    return await _confirm(request, as_page=False)


async def _confirm(request: Request, as_page: bool) -> Response:
    try:
        body = await _apply_token(request, "confirm", CONFIRM_SQL)
    except ApiError as exc:
        if not as_page:
            raise
        return _confirm_page(request, exc.status, "That link did not work", exc.message)
    if as_page:
        return _confirm_page(
            request, 200, "Subscription confirmed", f"{body['email']} will get the digest."
        )
    return json_response(body)


def _confirm_page(request: Request, status: int, heading: str, message: str) -> Response:
    config = request.app.state.config
    html = (
        templates()
        .get_template("confirmed.html")
        .render(heading=heading, message=message, home_url=config.public_url)
    )
    return HTMLResponse(html, status_code=status)
