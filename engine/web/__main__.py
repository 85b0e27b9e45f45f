"""``python -m noisecast.engine.web serve|editors|export``: the ``noisecast`` command."""

from noisecast.engine.cli import main

main()
