"""LLM-as-judge: pairwise head-to-head and single-answer grading, validated against human labels.

declare.py   Pairwise / Graded suite declarations (planned, batched, cached)
fixture.py   the `judge` fixture for judging inside a test body
templates.py the rubric and verdict format; verdict.py the strict parser
judgment.py  one item's decision; summary.py the run's win rate, bias and length figures
labels.py / validate.py  `modeleval judge validate`; human.py  `modeleval human export / import`
"""
