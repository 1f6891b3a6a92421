"""Registry references (registry/refs.py) and what start-up pays for them (nothing, until one is named)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pytest_modeleval.modelref import ModelRefError, resolve
from pytest_modeleval.registry.refs import RegistryRef, is_registry_ref, parse


@pytest.mark.parametrize("text, expected", [
    ("mlflow:chat@candidate", RegistryRef("chat", alias="candidate")),
    ("mlflow:chat/12", RegistryRef("chat", version="12")),
    ("models:/chat@production", RegistryRef("chat", alias="production")),
    ("models:/team.chat-v2/3", RegistryRef("team.chat-v2", version="3")),
    ("  mlflow:a@b_c-d ", RegistryRef("a", alias="b_c-d")),
])
def test_the_forms(text, expected):
    assert is_registry_ref(text) and parse(text) == expected


@pytest.mark.parametrize("text, problem", [
    ("mlflow:chat", "no version or alias after the model name 'chat'"),
    ("models:/chat/latest", "invalid version 'latest': a version is a positive whole number (name an alias"),
    ("mlflow:chat/0", "invalid version '0'"),
    ("mlflow:chat@", "invalid alias ''"),
    ("mlflow:chat@a b", "invalid alias 'a b'"),
    ("mlflow:@prod", "invalid registered model name ''"),
])
def test_malformed_references_say_what_is_wrong(text, problem):
    with pytest.raises(ValueError, match=problem.replace("(", r"\(")):
        parse(text)


def test_a_malformed_reference_is_refused_before_any_server_is_asked(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with pytest.raises(ModelRefError, match="model reference 'mlflow:chat': no version or alias"):
        resolve("mlflow:chat")
    with pytest.raises(ModelRefError, match="no MLflow tracking server: set MLFLOW_TRACKING_URI"):
        resolve("mlflow:chat@candidate")


def test_an_unreachable_server_is_named_without_its_password(monkeypatch):
    pytest.importorskip("mlflow")
    with pytest.raises(ModelRefError) as caught:
        resolve("mlflow:chat/1", mlflow_uri="http://ci:hunter2@127.0.0.1:9")
    assert "the MLflow tracking server http://ci:***@127.0.0.1:9 does not answer" in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_the_plugin_imports_no_mlflow_until_a_reference_names_it():
    code = "import sys, pytest_modeleval.plugin; print([m for m in sys.modules if m.split('.')[0] == 'mlflow' " \
           "or m.startswith('pytest_modeleval.registry')])"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
