"""The experiment wing: everything keyed by a system or benchmark name.

Its ground floor is three kinds of values: :class:`~optical.experiment.names.SystemSpec`
(a parsed system name), :class:`~optical.experiment.benchmarks.BenchmarkSpec` (a
declared benchmark) and the result rows of :mod:`optical.experiment.results`. Above
them: the config (:mod:`.config`), systems as composed stages (:mod:`.systems`),
trained and cached artifacts (:mod:`.artifacts`), resumable cells (:mod:`.cells`), the
run loop (:mod:`.run`), the report (:mod:`.report`, :mod:`.report_sections`), the
reproduction matrix and the ablations. Importing the package is cheap: the modules are
imported where they are used.
"""
