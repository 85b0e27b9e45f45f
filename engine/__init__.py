"""noisecast's engine, installed as ``noisecast.engine``. The folders are the architecture:

- ``core/``: pure functions and scikit-learn-style classes over DataFrames; no I/O, no clock
  (``now`` is an argument). ``tests/test_architecture.py`` holds them to that.
- ``store/``: the database (SQLAlchemy Core, Alembic migrations).
- ``jobs/``: the I/O shells that read the store, call the core and write back: collection,
  the hourly noise, forecast and cycle jobs, the scheduler, model and series files.
- ``web/``: the review app and the published JSON (FastAPI, Jinja2).
- ``cli/``: the ``noisecast`` command, one thin shell per command.
- ``demo/``: the offline demo news cycle.
- ``config``, ``errors``, ``schema``, ``logs``: what every layer shares; ``analysis``: the
  DataFrame API for notebooks.

Layers import only downwards (cli > web > jobs > store > core > config/schema/errors).

The public API (everything else is internal and may change):

- ``config``: ``load_settings``, ``Settings``, ``Secrets``; ``store``: ``Store``
- ``core.match``: ``parse_query``, ``StoryMatcher``, ``Query``
- ``core.aggregate``: ``aggregate_hourly``, ``update_hourly``, ``collection_health``
- ``core.score``: ``noise_level``, ``ScoreParams``, ``complete_hours``, ``LEVELS``
- ``core.features``: ``build_features`` (the forecast's feature table, long format in)
- ``core.forecast``: ``fit_forecaster``, ``NoisecastForecaster``, ``ColdStartForecaster``;
  ``core.baselines``: ``SzaboHuberman``, ``persistence``, ``BaseRate``
- ``core.backtest``: ``run_backtest``; ``jobs.series_files``: ``read_series_csv``
- ``core.suggest``: ``suggest``, ``hedge_word``; ``core.review``: the review rules and the
  published JSON (``web`` serves them)
- ``jobs.collect``: ``collect``; ``jobs.noise``: ``update_noise``, ``refresh_hourly``,
  ``score_table``; ``jobs.forecasting``: ``update_forecasts``; ``jobs.cycle``: ``run_cycle``
  (with ``core.cycle_rules``: ``hours_to_run``, ``assess_health``); ``jobs.scheduler``:
  ``run_scheduler`` (``noisecast run``); ``jobs.schedule_status``: ``schedule_status``
- ``analysis``: ``open_store``, ``mentions``, ``hourly``, ``scores``, ``sources_health``
  (DataFrames for notebooks)
"""

__all__ = ["analysis", "cli", "config", "core", "errors", "jobs", "schema", "store", "web"]
