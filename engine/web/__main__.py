"""``python -m engine.web serve|editors|export``: the ``noisecast`` command with the review
commands, whether or not ``engine.cli`` registers them itself."""

from engine.cli import cli, main
from engine.web.commands import editors, export, serve

for command in (serve, editors, export):
    if command.name not in cli.commands:
        cli.add_command(command)

main()
