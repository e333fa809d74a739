"""Makes the shared test helpers in this folder (``recorded_books``, ``waiting``) importable by
every test."""
