"""The Pulumi program (`__main__.py`) and its one settings loader (`settings.py`)."""
