"""Vocabulary for generated events: titles, venues, streets, hosts.

Titles mix plain words with the characters that trip parsers up (ampersands, quotes,
accents, emoji) so that escaping is exercised on every page.
"""

from __future__ import annotations

TITLE_OPENERS = (
    "Late Night",
    "Sunset",
    "Rooftop",
    "Underground",
    "Neighborhood",
    "Friday Night",
    "Midweek",
    "Sunday",
    "Community",
    "Pop-Up",
    "Secret",
    "Candlelight",
    "Open-Air",
    "After Hours",
    "Beginner's",
    "Founders'",
    "Queer",
    "Vinyl",
    "Silent",
    "Downtown",
)

TITLE_TOPICS = (
    "Jazz",
    "Salsa",
    "Techno",
    "Comedy",
    "Poetry",
    "Board Game",
    "Startup",
    "AI Builders",
    "Python",
    "Wine & Cheese",
    "Rock & Roll",
    "Film",
    "Photography",
    "Yoga",
    "Run Club",
    "Book Club",
    "Karaoke",
    "Trivia",
    "Ceramics",
    "Crypto",
    "Design",
    "Product",
    "Hip-Hop",
    "Tango",
    "Café Français",
    "Sake & Sushi",
    "Mezcal",
    "House Music",
    "Open Source",
    "Climate Tech",
)

TITLE_FORMATS = (
    "Night",
    "Social",
    "Meetup",
    "Jam",
    "Workshop",
    "Mixer",
    "Party",
    "Showcase",
    "Open Mic",
    "Happy Hour",
    "Masterclass",
    "Listening Session",
    "Networking Night",
    "Tasting",
    "Hack Night",
)

TITLE_SUFFIXES = (
    "",
    "",
    "",
    "",
    ': "Hidden Gems" Edition',
    " 🎷",
    " (21+)",
    " — Free Entry",
    " vol. {n}",
    " #{n}",
    " ✨",
    " | Live & Loud",
)

VENUE_PATTERNS = (
    "The {noun} Room",
    "{surname}'s Bar",
    "{noun} Hall",
    "The {adj} {noun}",
    "{surname} & Co.",
    "Studio {n}",
    "{adj} {noun} Club",
    "Café {surname}",
)

VENUE_NOUNS = (
    "Velvet",
    "Lantern",
    "Echo",
    "Harbor",
    "Orchard",
    "Foundry",
    "Atlas",
    "Copper",
    "Juniper",
    "Meridian",
    "Sparrow",
    "Granary",
)

VENUE_ADJS = ("Blue", "Golden", "Little", "Hidden", "Electric", "Crooked", "Silver", "Wild")

SURNAMES = (
    "Murphy",
    "Okafor",
    "García",
    "Nguyen",
    "Rossi",
    "Kowalski",
    "Haddad",
    "Tanaka",
    "O'Brien",
    "Schmidt",
)

STREETS = (
    "Main St",
    "Sunset Blvd",
    "Broadway",
    "Market St",
    "Mission St",
    "Elm Ave",
    "Grand Ave",
    "Spring St",
    "Canal St",
    "Harbor Dr",
    "Oak St",
    "Union Sq",
)

NEIGHBORHOODS = (
    "Downtown",
    "Arts District",
    "Old Town",
    "Riverside",
    "Midtown",
    "Warehouse District",
    "Chinatown",
    "Uptown",
)

GROUP_THEMES = (
    "Tech Talks",
    "Social Club",
    "Hikers",
    "Language Exchange",
    "Developers",
    "Board Gamers",
    "Founders Circle",
    "Photography Walks",
    "Salsa Lovers",
    "Book Lovers",
)

DESCRIPTION_LINES = (
    "Join us for an evening of good company, great music and new friends.",
    "Doors open 30 minutes before the start. Bring a friend!",
    "Food & drinks available at the bar; first round is on us.",
    "All levels welcome — no experience needed.",
    "Space is limited, so please RSVP early.",
    "We'll wrap up with an open Q&A and mingling.",
)

# Online events hosted from another zone than the city they are listed in (Meetup and
# Luma show them to every nearby city).
REMOTE_ZONES = ("America/New_York", "Europe/London", "Asia/Kolkata", "America/Los_Angeles")
