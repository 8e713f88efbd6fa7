"""`make bench`: the dashboard under gunicorn against the sandbox store, measured side by side."""
