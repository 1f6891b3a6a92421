"""Inference engines behind one protocol (lm-eval's shape). Heavy libraries are imported lazily."""

from .base import Engine, EngineError, EngineInfo, GenerateRequest, Loglikelihood, LoglikelihoodRequest

__all__ = ["Engine", "EngineError", "EngineInfo", "GenerateRequest", "Loglikelihood", "LoglikelihoodRequest"]
