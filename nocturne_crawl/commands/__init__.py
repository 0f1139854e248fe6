"""Project Scrapy commands (`COMMANDS_MODULE`): `crawl` checks its city before starting."""
