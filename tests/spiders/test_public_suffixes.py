"""Cookies never make a crawl fetch the Public Suffix List from the internet."""

import socket

import pytest
from scrapy.downloadermiddlewares import cookies

import nocturne_crawl.settings  # noqa: F401 - importing the settings installs the extractor


def test_the_cookie_middleware_uses_the_bundled_list_offline(monkeypatch):
    assert cookies._split_domain.suffix_list_urls == ()

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    # Answers come from the bundled snapshot: a public suffix, and an ordinary host.
    assert cookies._is_public_domain("co.uk") is True
    assert cookies._is_public_domain("www.eventbrite.com") is False


@pytest.mark.parametrize("host", ["api.lu.ma", "www.meetup.com", "127.0.0.1"])
def test_real_hosts_are_not_public_suffixes(host):
    assert cookies._is_public_domain(host) is False
