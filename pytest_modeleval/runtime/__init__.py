"""What a run computes with, below pytest: declared requests, the planner, the predictor and its
prediction cache, the Model handle a test calls, the model roles (judge, production) and the
OpenAI-compatible server's app. Nothing here imports pytest's plugin machinery or the features.
"""
