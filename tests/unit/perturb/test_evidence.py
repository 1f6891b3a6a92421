"""The per-item evidence table (issue 31): the combined rule, its calibration against variants or a held-out
reference, the overlap hit naming its source, and the summary lines; pure and fast (a stub predictor)."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest

from pytest_modeleval.engines.base import EngineError, TokenScores
from pytest_modeleval.perturb.evidence import combined_verdict, gather
from pytest_modeleval.gates.evaluate import GateResult
from pytest_modeleval.gates.junit import properties
from pytest_modeleval.gates.rules import Rule
from pytest_modeleval.perturb.feature import RunContamination, evidence_lines
from pytest_modeleval.perturb.library import Perturb
from pytest_modeleval.perturb.membership import Membership
from pytest_modeleval.perturb.numeric import NumericGSM8K
from pytest_modeleval.perturb.overlap import build


@pytest.mark.parametrize("flag, pct, shared, verdict", [
    (True, 0.95, None, "contaminated"),  # membership at the threshold corroborates
    (True, 0.94, None, "perturbation only"),
    (True, None, 1, "contaminated"),  # one shared 13-gram corroborates
    (True, 0.10, 0, "perturbation only"),
    (True, None, None, "perturbation only"),  # an instrument not run corroborates nothing
    (False, 1.00, None, "clean"),  # membership alone never accuses
    (False, 0.50, 3, "in corpus"),
    (False, None, None, "clean"),
])
def test_the_combined_rule(flag, pct, shared, verdict):
    assert combined_verdict(flag, pct, shared) == verdict


class Stub:
    """A predictor whose Min-K% of a text is minus its length in words (each word's logprob)."""

    def token_scores(self, texts):
        return [SimpleNamespace(error=None, value=TokenScores(tuple(-float(len(t.split())) for _ in t.split())))
                for t in texts]


def item(name, flagged, cs=0.9, p=0.001):
    return SimpleNamespace(item=name, flagged=flagged, cs=cs, p_value=p)


def test_gather_calibrates_against_variants_and_names_the_overlap_source(tmp_path):
    corpus = tmp_path / "train.txt"
    planted = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen"
    corpus.write_text("unrelated line\n" + planted + "\n")
    build([str(corpus)], tmp_path / "index")
    texts = {
        "s-a": {0: "short", 1: "a much longer variant", 2: "another longer one here"},  # likelier than variants
        "s-b": {0: "the canonical is the longest text of all", 1: "short one", 2: "tiny"},
        "s-c": {0: planted.upper() + "!", 1: "x y", 2: "x"},
    }
    config = {"membership": True, "k": 1.0, "flag_percentile": 0.95, "overlap_index": "index"}
    rows = {r.item: r for r in gather([item("s-a", True), item("s-b", True), item("s-c", False, 0.0, 1.0)],
                                      texts, config, Stub(), tmp_path)}
    assert rows["s-a"].min_k == -1.0 and rows["s-a"].min_k_pp is None  # the stub gives no distribution
    assert rows["s-a"].membership_pct == 1.0 and rows["s-a"].membership_basis == "variants (2)"
    assert rows["s-a"].verdict == "contaminated"
    assert rows["s-b"].membership_pct == 0.0 and rows["s-b"].verdict == "perturbation only"
    assert (rows["s-c"].overlap_shared, rows["s-c"].overlap_total) == (2, 2)
    assert rows["s-c"].overlap_source == f"{corpus}:2" and rows["s-c"].verdict == "in corpus"
    lines = evidence_lines("s", list(rows.values()), config)
    assert "1 contaminated, 1 perturbation only, 1 in corpus" in lines[0]
    assert any(line.startswith("s-a") and line.endswith("contaminated") for line in lines)
    many = [dataclasses.replace(rows["s-b"], item=f"s-{i:02d}", flagged=False, verdict="clean", membership_pct=i / 20)
            for i in range(20)]
    cut = evidence_lines("s", many + [rows["s-a"]], config)
    assert [line.split()[0] for line in cut[2:-1]] == ["s-a"] + [f"s-{i:02d}" for i in range(19, 10, -1)]
    assert cut[-1].startswith("... and 11 more clean items")
    # the same table in the contamination gate's JUnit testcase
    feature = RunContamination()
    feature.evidence_texts, feature._evidence = {"s": texts}, {"s": list(rows.values())}
    result = GateResult("s", Rule("contamination", "contaminated", "threshold", max=0.05), "pass", "")
    result.properties += feature._evidence_properties("s")
    props = dict(properties(result))
    assert props["modeleval_evidence"] == "contaminated 1, perturbation only 1, in corpus 1, clean 0"
    assert props["modeleval_evidence_contaminated"] == "s-a"


def test_a_held_out_reference_and_an_engine_that_refuses(tmp_path):
    (tmp_path / "held_out.jsonl").write_text('{"text": "a b"}\n{"text": "a b c d e f"}\n')
    texts = {"s-a": {0: "a b c", 1: "a"}}
    config = {"membership": True, "k": 1.0, "reference": "held_out.jsonl"}
    (row,) = gather([item("s-a", True)], texts, config, Stub(), tmp_path)
    assert row.membership_pct == 0.5 and row.membership_basis == "reference (2)"  # -3 between -2 and -6

    class Refusing:
        def token_scores(self, texts):
            raise EngineError("engine 'lmeval' cannot give per-token logprobs")

    (row,) = gather([item("s-a", True)], texts, {"membership": True}, Refusing(), tmp_path)
    assert row.membership_pct is None and "engine 'lmeval'" in row.membership_basis
    assert row.verdict == "perturbation only"


def test_perturb_settings():
    assert Perturb([NumericGSM8K()]).evidence_settings() is None
    settings = Perturb([NumericGSM8K()], membership=Membership(k=0.1), gate_on="combined").evidence_settings()
    assert settings["k"] == 0.1 and settings["gate_on"] == "combined"
    with pytest.raises(ValueError, match="gate_on='combined' needs membership"):
        Perturb([NumericGSM8K()], gate_on="combined")
    assert Membership().scored_text({"question": "Q?", "answer": "A."}) == "Q?\nA."
