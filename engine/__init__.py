"""noisecast engine: config, store, matching, scoring, forecasting, review, analysis.

The public API (everything else is internal and may change):

- ``engine.config``: ``load_settings``, ``Settings``, ``Secrets``
- ``engine.store``: ``Store``
- ``engine.collect``: ``collect``
- ``engine.match``: ``parse_query``, ``StoryMatcher``, ``Query``
- ``engine.aggregate``: ``aggregate_hourly``, ``update_hourly``, ``collection_health``
- ``engine.score``: ``noise_level``, ``ScoreParams``, ``complete_hours``, ``LEVELS``
- ``engine.noise``: ``update_noise``, ``refresh_hourly``, ``score_table``
- ``engine.features``: ``build_features`` (the forecast's feature table, long format in)
- ``engine.forecast``: ``fit_forecaster``, ``load_forecaster``, ``NoisecastForecaster``,
  ``ColdStartForecaster``, ``SzaboHuberman``, ``persistence``
- ``engine.backtest``: ``run_backtest``, ``read_series_csv``
- ``engine.suggest``: ``suggest``, ``hedge_word``
- ``engine.forecasting``: ``update_forecasts`` (the hourly forecast job)
- ``engine.cycle``: ``run_cycle``, ``hours_to_run``, ``assess_health`` (the hourly cycle)
- ``engine.scheduler``: ``run_scheduler`` (``noisecast run``); ``engine.schedule_status``:
  ``schedule_status`` (``noisecast status``)
- ``engine.review``: the review rules and the published JSON (``engine.web`` serves them)
- ``engine.analysis``: ``open_store``, ``mentions``, ``hourly``, ``scores``, ``sources_health``
  (DataFrames for notebooks)
"""

__all__ = [
    "aggregate",
    "analysis",
    "backtest",
    "collect",
    "config",
    "cycle",
    "features",
    "forecast",
    "forecasting",
    "match",
    "noise",
    "review",
    "scheduler",
    "score",
    "store",
    "suggest",
]
