"""`GET /openapi.json`: the paths come from each endpoint's docstring, the shared parts from here."""

from __future__ import annotations

import copy

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.schemas import SchemaGenerator

from nocturne_crawl.cities import catalog

_ERROR = {
    "description": "A client error, with a message saying what was wrong.",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}

BASE = {
    "openapi": "3.0.3",
    "info": {"title": "Nocturne", "version": "0.1.0", "description": "A city's events, tonight."},
    "components": {
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["error"],
                "properties": {"error": {"type": "string"}},
            },
            "City": {
                "type": "object",
                "required": ["id", "name", "slug", "coordinates"],
                "properties": {
                    "id": {"type": "string"},
                    "name": {"type": "string"},
                    "slug": {"type": "string"},
                    "timezone": {"type": "string"},
                    "coordinates": {
                        "type": "object",
                        "required": ["lat", "lng"],
                        "properties": {"lat": {"type": "number"}, "lng": {"type": "number"}},
                    },
                },
            },
            "CityList": {
                "type": "object",
                "required": ["cities"],
                "properties": {
                    "cities": {"type": "array", "items": {"$ref": "#/components/schemas/City"}}
                },
            },
            "Event": {
                "type": "object",
                "required": [
                    "id",
                    "title",
                    "link",
                    "date",
                    "time",
                    "location",
                    "description",
                    "source",
                    "city",
                ],
                "properties": {
                    "id": {"type": "integer"},
                    "title": {"type": "string"},
                    "link": {"type": "string"},
                    "date": {"type": "string", "format": "date"},
                    "time": {
                        "type": "string",
                        "nullable": True,
                        "pattern": "^[0-2][0-9]:[0-5][0-9]$",
                    },
                    "location": {"type": "string", "nullable": True},
                    "description": {"type": "string", "nullable": True},
                    "source": {"type": "string", "enum": ["eventbrite", "meetup", "luma"]},
                    "city": {"type": "string"},
                    "starts_at": {"type": "string", "format": "date-time"},
                    "ends_at": {"type": "string", "format": "date-time", "nullable": True},
                    "timezone": {"type": "string"},
                    "latitude": {"type": "number", "nullable": True},
                    "longitude": {"type": "number", "nullable": True},
                    "is_online": {"type": "boolean"},
                    "is_free": {"type": "boolean", "nullable": True},
                    "price": {"type": "string", "nullable": True},
                    "image_url": {"type": "string", "nullable": True},
                    "status": {"type": "string", "enum": ["active", "cancelled"]},
                },
            },
            "SubscribeRequest": {
                "type": "object",
                "required": ["email", "city"],
                "properties": {
                    "email": {"type": "string"},
                    "city": {"type": "string"},
                    "filters": {
                        "type": "object",
                        "description": "Digest filters, as on GET /events/{city}.",
                        "properties": {
                            "free": {"type": "boolean"},
                            "online": {"type": "string", "enum": ["include", "exclude", "only"]},
                            "q": {"type": "string", "maxLength": 200},
                        },
                        "additionalProperties": False,
                    },
                },
            },
            "Subscription": {
                "type": "object",
                "required": ["id", "email", "city", "is_active", "created_at"],
                "properties": {
                    "id": {"type": "integer"},
                    "email": {"type": "string"},
                    "city": {"type": "string"},
                    "is_active": {"type": "boolean"},
                    "created_at": {"type": "string", "format": "date-time"},
                    "confirmation_pending": {
                        "type": "boolean",
                        "description": "POST /subscribe only: a confirmation mail was sent "
                        "and no digest goes out until its link is followed.",
                    },
                },
            },
            "ScrapeStarted": {
                "type": "object",
                "required": ["message", "city", "note", "joined", "run_id", "jobs"],
                "properties": {
                    "message": {"type": "string"},
                    "city": {"type": "string"},
                    "note": {"type": "string"},
                    "joined": {"type": "boolean"},
                    "run_id": {"type": "string"},
                    "jobs": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "job_id": {"type": "string"},
                                "spider": {"type": "string"},
                                "status": {"type": "string"},
                            },
                        },
                    },
                },
            },
            "ScrapeStatus": {
                "type": "object",
                "required": ["city", "run_id", "status", "sources"],
                "properties": {
                    "city": {"type": "string"},
                    "run_id": {"type": "string", "nullable": True},
                    "status": {
                        "type": "string",
                        "enum": ["idle", "queued", "running", "finished", "failed"],
                    },
                    "started_at": {"type": "string", "format": "date-time", "nullable": True},
                    "finished_at": {"type": "string", "format": "date-time", "nullable": True},
                    "items_scraped": {"type": "integer"},
                    "items_new": {"type": "integer"},
                    "items_updated": {"type": "integer"},
                    "error": {"type": "string", "nullable": True},
                    "degraded": {"type": "boolean"},
                    "sources": {"type": "array", "items": {"type": "object"}},
                },
            },
        },
        "responses": {"BadRequest": _ERROR, "NotFound": _ERROR, "TooManyRequests": _ERROR},
        # The signed token of a mail's link, in the query or in a JSON body (both taken).
        "parameters": {
            "Token": {"name": "token", "in": "query", "schema": {"type": "string"}},
        },
        "requestBodies": {
            "Token": {
                "content": {
                    "application/json": {
                        "schema": {"type": "object", "properties": {"token": {"type": "string"}}}
                    }
                }
            }
        },
    },
}

generator = SchemaGenerator(BASE)


def with_city_ids(schema: dict) -> dict:
    """Name the catalog's ids wherever a city is asked for: the catalog is data, so the
    description of valid input is built from it rather than written twice."""
    schema = copy.deepcopy(schema)  # the generator shares BASE's dicts between calls
    ids = list(catalog())
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter.get("name") == "city" and parameter.get("in") == "path":
                    parameter["schema"] = {"type": "string", "enum": ids}
    request_schema = schema["components"]["schemas"]["SubscribeRequest"]["properties"]
    request_schema["city"] = {"type": "string", "enum": ids}
    request_schema["email"] = {"type": "string", "format": "email", "maxLength": 320}
    return schema


async def openapi(request: Request) -> Response:
    """
    summary: This document.
    responses:
      200: {description: The OpenAPI description of the API.}
    """
    if getattr(request.app.state, "openapi", None) is None:
        request.app.state.openapi = with_city_ids(generator.get_schema(routes=request.app.routes))
    body = orjson.dumps(request.app.state.openapi, option=orjson.OPT_NON_STR_KEYS)
    return Response(body, media_type="application/json")
