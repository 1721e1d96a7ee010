"""Canary analysis and soak: pure judges over per-version measurements.

- :mod:`~promote.analysis.observations`: what the judges read (per-second buckets per
  version) and the port that supplies them (:class:`MetricSource`);
- :mod:`~promote.analysis.sequential`: anytime-valid tests (mixture likelihood ratios);
- :mod:`~promote.analysis.judges`: threshold triggers and canary-vs-baseline comparisons,
  each a pure function to a :class:`~promote.analysis.verdicts.Judgement`;
- :mod:`~promote.analysis.sizing`: how long a bake must be to catch a regression;
- :mod:`~promote.analysis.synthetic` and :mod:`~promote.analysis.cloudwatch`: the providers.

Everything here but ``cloudwatch`` is pure: no clock, no I/O. The engine owns time.
"""
