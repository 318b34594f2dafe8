"""The team store: this machine's sessions copied to a shared PostgreSQL database.

The local JSON store stays the truth and the default; the team store is a copy that a
push brings up to date. The package: ``local`` (this store's push state in
``<store>/team.db``: the machine id, what was pushed, the outbox), ``auto`` (the hook
after a finished turn), ``pusher`` (when the background pusher is due, checked after
every command, and its start), ``redact`` (passwords out of messages), ``connect`` (the database
URL and connection, psycopg's errors as ClinvkErrors), ``migrations`` (the server
schema), ``push`` (sessions into the team store), ``queries`` (list, show, stats on the
server). Only ``connect``, ``migrations``, ``push`` and ``queries`` import psycopg.
"""
