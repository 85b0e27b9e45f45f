"""``noisecast run``: the production main job (engine/jobs/scheduler.py does the work)."""

from __future__ import annotations

import sys
from typing import Any

import click

from noisecast.engine.cli._common import handle_errors
from noisecast.engine.config import Secrets
from noisecast.engine.jobs.process import make_clock
from noisecast.engine.jobs.scheduler import ROLES, run_scheduler


@click.command("run")
@click.option(
    "--role",
    type=click.Choice(ROLES),
    default="all",
    show_default=True,
    help="collector: fetch due sources; scorer: the hourly cycle; all: both. Several "
    "collectors and scorers may share one PostgreSQL database; SQLite allows one process.",
)
@click.option(
    "--once",
    is_flag=True,
    help="Collect what is due, run the cycle for every completed hour, and exit (cron, tests).",
)
@click.option("--clock-speed", type=float, default=1.0, hidden=True)
@click.option("--clock-epoch", type=float, default=None, hidden=True)
@click.option("--cycle-every", type=float, default=None, hidden=True)
@click.pass_obj
def run_command(
    app: Any,
    role: str,
    once: bool,
    clock_speed: float,
    clock_epoch: float | None,
    cycle_every: float | None,
) -> None:
    """Run the scheduler: keep collecting, and score and forecast every hour."""

    @handle_errors
    def run() -> None:
        clock = make_clock(app.now_override, speed=clock_speed, epoch=clock_epoch)
        with app.store() as store:
            code = run_scheduler(
                store,
                app.settings,
                role=role,
                once=once,
                clock=clock,
                cycle_every=cycle_every,
                secrets=Secrets.from_env(),
                hard_exit=True,
            )
        sys.exit(code)

    run()
