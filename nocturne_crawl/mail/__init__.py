"""Outgoing mail: composing digests and confirmations, and the SMTP or outbox transport."""
