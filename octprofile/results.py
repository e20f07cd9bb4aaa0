"""The typed results of every use case, under their old import path: each now lives in its use case's module
(``octprofile/studies/``), beside the computation that fills it and the columns it is written under.

Scripts and papers depend on the column names and their order: add new columns at the end of a group,
never rename one. A value that was not measured (timing off, fvcore off) is ``None``, never 0.
"""

from octprofile.analysis.counters import KINDS as COUNTER_KINDS
from octprofile.analysis.crosscheck import counter_disagreements
from octprofile.studies.ablate import ABLATION_COLUMNS, AblationResult, AblationRow
from octprofile.studies.blocks import BLOCK_COLUMNS, BlockRow, BlocksResult
from octprofile.studies.check import CHECK_COLUMNS, CHECK_COUNTERS, CheckResult, counters_ran
from octprofile.studies.compare import COMPARE_COLUMNS, BreakEven, SweepResult, VariantRow
from octprofile.studies.counters import COUNTER_COLUMNS, CounterRow, CountersResult
from octprofile.studies.coverage import COVERAGE_COLUMNS, CoverageResult, CoverageRow
from octprofile.studies.explain import EXPLAIN_COLUMNS, ExplainBackend, ExplainResult, ExplainRow, SlowNode
from octprofile.studies.layers import LAYER_COLUMNS, LayerRow, LayersResult
from octprofile.studies.train import TRAINING_COLUMNS, TrainingResult, TrainingRow
from octprofile.studies.variants import Timed

__all__ = ["ABLATION_COLUMNS", "BLOCK_COLUMNS", "CHECK_COLUMNS", "CHECK_COUNTERS", "COMPARE_COLUMNS", "COUNTER_COLUMNS",
           "COUNTER_KINDS", "COVERAGE_COLUMNS", "EXPLAIN_COLUMNS", "LAYER_COLUMNS", "TRAINING_COLUMNS",
           "AblationResult", "AblationRow", "BlockRow", "BlocksResult", "BreakEven", "CheckResult", "CounterRow",
           "CountersResult", "CoverageResult", "CoverageRow", "ExplainBackend", "ExplainResult", "ExplainRow",
           "LayerRow", "LayersResult", "SlowNode", "SweepResult", "Timed", "TrainingResult", "TrainingRow",
           "VariantRow", "counter_disagreements", "counters_ran"]
