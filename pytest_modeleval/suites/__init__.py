"""Ready suites for the classic benchmarks, scored exactly as lm-evaluation-harness scores them.

    pytest --pyargs pytest_modeleval.suites --model=embedded --eval-data-dir DATA

or copy a file from here into a suite repository. Each reads the benchmark's HF dataset from the
local cache, or the published files under --eval-data-dir (see sources.py for the layout).
"""
