"""Conversations the vendor CLIs recorded by themselves, read into clinvk sessions.

``transcript`` holds what every vendor's reader produces; ``claude``, ``codex`` and
``gemini`` read their own CLI's files; ``discover`` finds those files and ``adopt``
records them in the store (``clinvk sessions sync``). clinvk never writes a vendor's
files.
"""
