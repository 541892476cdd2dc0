"""The web dashboard at /__sandbox/ui/: static files (`static/`) and the admin operations it reads and writes through.

The page is plain HTML, CSS and hand-written JavaScript modules, served as
they are (no build step, nothing fetched from elsewhere). Everything it shows
or changes goes through the admin API (`specs/sandbox.yaml`); the operations
added for it (`operations.py`) are ordinary admin operations any script may call.
"""
