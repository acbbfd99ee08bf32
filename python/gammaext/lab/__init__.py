"""The gamma-scalping lab: compare hedging rules across market scenarios.

:func:`compare_rules` hedges the same random paths of every scenario under every rule (common
random numbers, so the differences between rules are not noise) and returns a tidy table, one
row per rule x scenario: mean, standard deviation and confidence interval of the total P&L and
of each P&L part, the paired difference to a baseline rule, rebalances, turnover, costs, P&L
quantiles, CVaR 5% and a Sharpe-like ratio. :func:`sweep` runs a rule family over a parameter
range (fine to coarse) and :func:`frontier` / :func:`best_rules` read the cost-versus-risk
frontier and the best rule per scenario from the table.

Exact merging. Paths are processed in chunks of path indices ``[a, b)``; the engine's
counter-based generator makes a chunk equal to rows ``a..b-1`` of a single run. Each chunk
gives partial statistics (:class:`ChunkStats`): the count, the *exact* sums of every field and
of its squares (held as big integers times a power of two, so adding them is exact and
independent of order), and the per-path P&L (8 bytes per path per rule x scenario, for the
quantiles and the CVaR). Merging is therefore exact: a chunked, threaded or Dask run gives the
same table, bit for bit, whatever the chunk size or the order in which chunks finish.

Progress and interruption: a progress bar (tqdm if installed, on a terminal) advances per
chunk; Ctrl-C between chunks (a ``KeyboardInterrupt``, also one raised by a ``progress``
callback) stops the run and returns the statistics of the chunks already done, with
``partial=True`` in every row (and ``table.attrs["partial"]`` for a DataFrame).

Scale-out: pass ``client=`` (a ``dask.distributed.Client``) and every chunk becomes a task.

The package's modules: :mod:`.stats` (exact sums, the P&L sketch, chunk statistics),
:mod:`.scenarios`, :mod:`.rule_sets` (labels and sweeps), :mod:`.runner` (runs, merging, tables,
Dask) and :mod:`.studies` (the default lab, its conclusions, the studies, the null test).
"""

from __future__ import annotations

# The private names below are used by the CLI and the tests (exact sums, scenario registration,
# tables).
from .rule_sets import (
    rule_label as rule_label,
    sweep_rules as sweep_rules,
    validate_rule as validate_rule,
)
from .runner import (
    DEFAULT_SEED as DEFAULT_SEED,
    LabResult as LabResult,
    _to_table as _to_table,
    best_rules as best_rules,
    compare_rules as compare_rules,
    frontier as frontier,
    run_experiment as run_experiment,
    sweep as sweep,
    table_attr as table_attr,
    table_rows as table_rows,
)
from .scenarios import (
    SCENARIOS as SCENARIOS,
    Scenario as Scenario,
    _kind as _kind,
    default_series as default_series,
    load_closes as load_closes,
    same_variance_paths as same_variance_paths,
    scenario as scenario,
    scenario_keys as scenario_keys,
)
from .stats import (
    CVAR_LEVEL as CVAR_LEVEL,
    MEAN_FIELDS as MEAN_FIELDS,
    MOMENT_FIELDS as MOMENT_FIELDS,
    QUANTILES as QUANTILES,
    SKETCH_BITS as SKETCH_BITS,
    ChunkStats as ChunkStats,
    ExactSum as ExactSum,
    Sketch as Sketch,
    _add as _add,
    _frac as _frac,
    exact_sums as exact_sums,
)
from .studies import (
    NULL_SE as NULL_SE,
    SIGNAL_STUDY as SIGNAL_STUDY,
    SPREAD_STUDY as SPREAD_STUDY,
    VEGA_HEDGE_STUDY as VEGA_HEDGE_STUDY,
    VOL_STUDY as VOL_STUDY,
    check_conclusions as check_conclusions,
    default_lab as default_lab,
    lab_traces as lab_traces,
    null_test as null_test,
    signal_study as signal_study,
    signal_study_summary as signal_study_summary,
    spread_study as spread_study,
    spread_study_null as spread_study_null,
    spread_study_summary as spread_study_summary,
    vega_hedge_study as vega_hedge_study,
    vega_hedge_summary as vega_hedge_summary,
    vol_study as vol_study,
    vol_study_summary as vol_study_summary,
)

__all__ = [
    "SCENARIOS",
    "ChunkStats",
    "LabResult",
    "Sketch",
    "Scenario",
    "best_rules",
    "check_conclusions",
    "compare_rules",
    "default_lab",
    "frontier",
    "lab_traces",
    "load_closes",
    "rule_label",
    "run_experiment",
    "same_variance_paths",
    "scenario",
    "signal_study",
    "signal_study_summary",
    "spread_study",
    "spread_study_null",
    "spread_study_summary",
    "sweep",
    "sweep_rules",
    "table_rows",
    "validate_rule",
    "vega_hedge_study",
    "vega_hedge_summary",
    "vol_study",
    "vol_study_summary",
]
