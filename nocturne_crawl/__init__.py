"""Nocturne: a city's events from Eventbrite, Meetup and Luma, crawled, stored and served."""
