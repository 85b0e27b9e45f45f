"""``python -m engine`` is ``noisecast``."""

from engine.cli import main

main()
