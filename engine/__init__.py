"""noisecast engine: config, store, matching, scoring, forecasting, review, analysis."""
