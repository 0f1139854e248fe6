"""`POST /subscribe` and `POST /unsubscribe`."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email
from starlette.requests import Request
from starlette.responses import Response

from api.errors import ApiError
from api.events import json_response
from api.requests import read_json_object, require_city
from nocturne_crawl.tokens import InvalidToken, read_token


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


async def subscribe(request: Request) -> Response:
    """
    summary: Subscribe an email address to a city's digest (idempotent).
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
    """
    config = request.app.state.config
    data = await read_json_object(request, config.max_body_bytes)
    email = normalize_email(data.get("email"))
    city_id = data.get("city")
    if not isinstance(city_id, str) or not city_id:
        raise ApiError(400, "city is required")
    city = require_city(city_id)
    async with request.app.state.pool.connection() as conn:
        cur = await conn.execute(
            """INSERT INTO subscriptions (email, city) VALUES (%s, %s)
                ON CONFLICT (email, city) DO UPDATE
                   SET is_active = true, unsubscribed_at = NULL
                RETURNING id, email, city, is_active, created_at, (xmax = 0) AS inserted""",
            (email, city.id),
        )
        row = await cur.fetchone()
    sub_id, email, city_id, is_active, created_at, inserted = row
    body = {
        "id": sub_id,
        "email": email,
        "city": city_id,
        "is_active": is_active,
        "created_at": created_at,
    }
    return json_response(body, status=201 if inserted else 200)


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


async def unsubscribe(request: Request) -> Response:
    """
    summary: Deactivate the subscription named by a signed token (the link in every email).
    parameters:
      - {name: token, in: query, schema: {type: string}}
    requestBody:
      content:
        application/json:
          schema: {type: object, properties: {token: {type: string}}}
    responses:
      200:
        description: The subscription is inactive.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/Subscription'}
      400: {$ref: '#/components/responses/BadRequest'}
      404: {$ref: '#/components/responses/NotFound'}
    """
    token = await _token_from(request)
    try:
        sub_id, email = read_token(request.app.state.config, "unsubscribe", token)
    except InvalidToken as exc:
        raise ApiError(400, str(exc)) from None
    async with request.app.state.pool.connection() as conn:
        cur = await conn.execute(
            """UPDATE subscriptions
                   SET is_active = false, unsubscribed_at = COALESCE(unsubscribed_at, now())
                 WHERE id = %s AND email = %s
             RETURNING id, email, city, is_active, created_at""",
            (sub_id, email),
        )
        row = await cur.fetchone()
    if row is None:
        raise ApiError(404, "no such subscription")
    sub_id, email, city_id, is_active, created_at = row
    return json_response(
        {
            "id": sub_id,
            "email": email,
            "city": city_id,
            "is_active": is_active,
            "created_at": created_at,
        }
    )
