"""``genzoo serve``: a local web playground for trained runs (see docs/serve.md)."""
