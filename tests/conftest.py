"""Makes the shared test helpers in this folder (``recorded_books``) importable by every test."""
