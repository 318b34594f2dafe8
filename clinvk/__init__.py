"""clinvk: drive coding-agent CLIs headlessly and keep every conversation as a session."""

__version__ = "0.1.0"
