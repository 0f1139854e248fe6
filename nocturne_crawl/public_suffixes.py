"""Scrapy's cookie middleware, kept off the network.

Scrapy asks `tldextract` whether a cookie's domain is a public suffix, and tldextract's
default first downloads the Public Suffix List from the internet. A crawl must only talk
to the sites it crawls (and tests and demos only to loopback), so the middleware gets an
extractor that reads the list bundled with tldextract and never fetches it.
"""

from __future__ import annotations

from scrapy.downloadermiddlewares import cookies
from tldextract import TLDExtract

OFFLINE_EXTRACT = TLDExtract(suffix_list_urls=(), include_psl_private_domains=True)


def use_bundled_public_suffixes() -> None:
    cookies._split_domain = OFFLINE_EXTRACT
