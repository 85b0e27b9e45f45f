"""noisecast engine: config, store, matching, scoring, forecasting, review, analysis.

The public API (everything else is internal and may change):

- ``engine.config``: ``load_settings``, ``Settings``, ``Secrets``
- ``engine.store``: ``Store``
- ``engine.collect``: ``collect``
- ``engine.match``: ``parse_query``, ``StoryMatcher``, ``Query``
- ``engine.aggregate``: ``aggregate_hourly``, ``update_hourly``, ``collection_health``
- ``engine.score``: ``noise_level``, ``ScoreParams``, ``complete_hours``, ``LEVELS``
- ``engine.noise``: ``update_noise``, ``score_table``
- ``engine.analysis``: ``open_store``, ``mentions``, ``hourly``, ``scores``, ``sources_health``
  (DataFrames for notebooks)
"""

__all__ = ["aggregate", "analysis", "collect", "config", "match", "noise", "score", "store"]
