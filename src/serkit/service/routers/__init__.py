"""One router per resource: ``health``, ``models``, ``predict`` and ``timeline``."""
