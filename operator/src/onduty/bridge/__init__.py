"""The Alertmanager webhook receiver: v4 notifications in, ``Alert`` objects out."""
