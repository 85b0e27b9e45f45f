"""``python -m engine`` is ``noisecast``."""

from noisecast.engine.cli import main

main()
