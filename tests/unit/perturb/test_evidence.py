"""The per-item evidence table (issue 31): the combined rule, its calibration against variants or a held-out
reference, the overlap hit naming its source, and the summary lines; pure and fast (a stub predictor)."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest

from pytest_modeleval.engines.base import EngineError, TokenScores
import pytest_modeleval as modeleval
from pytest_modeleval.perturb.evidence import combined_verdict, gather, rebuild, settings
from pytest_modeleval.gates.evaluate import GateResult
from pytest_modeleval.gates.junit import properties
from pytest_modeleval.gates.rules import Rule
from pytest_modeleval.perturb.feature import RunContamination, evidence_lines
from pytest_modeleval.perturb.library import Perturb
from pytest_modeleval.perturb.membership import Membership
from pytest_modeleval.perturb.numeric import NumericGSM8K
from pytest_modeleval.perturb.overlap import build


@pytest.mark.parametrize("flag, pct, shared, verdict, n", [
    (True, 0.95, None, "contaminated", 10),  # membership at the threshold corroborates
    (True, 0.94, None, "perturbation only", 10),
    (True, None, 1, "contaminated", None),  # one shared 13-gram corroborates
    (True, 0.10, 0, "perturbation only", 10),
    (True, None, None, "perturbation only", None),  # an instrument not run corroborates nothing
    (False, 1.00, None, "membership only", 19),  # membership alone never accuses: a lead, not a verdict ...
    (False, 1.00, None, "clean", 18),  # ... and only against enough texts: 1 in 19 tops 18 by chance
    (False, 1.00, None, "clean", 3),  # (1 in 4 tops 3 variants)
    (False, 0.94, None, "clean", 200),
    (False, 1.00, 2, "in corpus", 200),  # the corpus is the stronger finding
    (False, 0.50, 3, "in corpus", 10),
    (False, None, None, "clean", None),
])
def test_the_combined_rule(flag, pct, shared, verdict, n):
    assert combined_verdict(flag, pct, shared, reference_n=n) == verdict


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
    alone = evidence_lines("s", [rows["s-c"]], config, perturbed=False)  # a suite without variants: no CS columns
    assert "no variants, so no perturbation test" in alone[0] and alone[0].endswith("1 in corpus, 0 membership only")
    assert alone[1].split()[:4] == ["item", "Min-K%", "Min-K%++", "membership"]
    # the same table in the contamination gate's JUnit testcase
    feature = RunContamination()
    feature.evidence_texts, feature._evidence = {"s": texts}, {"s": list(rows.values())}
    result = GateResult("s", Rule("contamination", "contaminated", "threshold", max=0.05), "pass", "")
    result.properties += feature._evidence_properties("s")
    props = dict(properties(result))
    assert props["modeleval_evidence"] == ("contaminated 1, perturbation only 1, in corpus 1, membership only 0, "
                                           "clean 0")
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


def spec(**kwargs):
    """A suite's spec, as its decorator made it."""
    return modeleval.suite("s", data="d.jsonl", **kwargs)(lambda item: None).mark.args[0]


def test_suite_settings():
    perturbed = dict(perturbations=3, perturb=Perturb([NumericGSM8K()], gate_on="combined"))
    assert settings(spec()) is None and settings(spec(perturbations=3, perturb=Perturb([NumericGSM8K()]))) is None
    got = settings(spec(membership=Membership(k=0.1), **perturbed))
    assert got["k"] == 0.1 and got["gate_on"] == "combined" and got["membership"] and got["overlap_index"] is None
    got = settings(spec(overlap_index="idx", membership=Membership(reference="held.txt")))  # any suite
    assert got["gate_on"] == "perturbation" and got["reference"] == "held.txt" and got["overlap_index"] == "idx"
    with pytest.raises(ValueError, match="gate_on='combined'.* needs membership"):
        spec(**perturbed)
    with pytest.raises(ValueError, match="without perturbations has no variants to calibrate against"):
        spec(membership=Membership())
    with pytest.raises(TypeError, match="membership must be modeleval.Membership"):
        spec(membership=0.95, overlap_index="idx")
    assert Membership().scored_text({"question": "Q?", "answer": "A."}) == "Q?\nA."


def test_a_recorded_run_keeps_its_instruments_and_its_verdicts_follow_the_new_flags():
    """`modeleval gate` rebuilds the table from contamination_items: no model, and the perturbation test anew."""
    recorded = {"s-a": {"min_k": -2.0, "min_k_pp": -1.0, "membership_pct": 0.97, "membership_basis": "reference (40)",
                        "membership_n": 40, "overlap_shared": None, "overlap_total": None, "overlap_source": None,
                        "cs": 0.0},
                "s-b": {"min_k": -3.0, "min_k_pp": None, "membership_pct": 0.20, "membership_basis": "reference (40)",
                        "membership_n": 40, "overlap_shared": 2, "overlap_total": 5, "overlap_source": "corpus.jsonl:3",
                        "cs": 0.0}}
    config = {"flag_percentile": 0.95}
    before = rebuild([item("s-a", False), item("s-b", False)], recorded, config)
    after = rebuild([item("s-a", True), item("s-b", True)], recorded, config)
    assert [r.verdict for r in before] == ["membership only", "in corpus"]
    assert [r.verdict for r in after] == ["contaminated", "contaminated"]
    assert after[1].overlap_source == "corpus.jsonl:3" and after[0].min_k_pp == -1.0 and after[0].cs == 0.9
    (alone,) = rebuild([], {"s-b": recorded["s-b"]}, config)  # a suite without variants
    assert alone.cs is None and not alone.flagged and alone.verdict == "in corpus"


def test_modeleval_gate_replays_a_gate_on_the_combined_verdict(tmp_path, monkeypatch):
    """A recorded run gated again counts the combined verdict, from the recorded instruments and the rescored flags."""
    import json

    from evalkit import query
    from pytest_modeleval.cli import main as modeleval
    from pytest_modeleval.results.store import Store

    monkeypatch.chdir(tmp_path)
    store = Store(tmp_path / "results.sqlite")
    run = store.start_run({"model_hash": "ab" * 32})
    store.add_suite(run, {"suite": "s", "perturbations": 10, "cs_threshold": 0.1, "cs_alpha": 0.05,
                          "evidence": json.dumps({"membership": True, "flag_percentile": 0.95, "gate_on": "combined"})})
    members = {"s-0000": 0.99, "s-0001": 0.20, "s-0002": 0.99}  # s-0002 keeps its answers on the variants
    for source, pct in members.items():
        for variant in range(11):
            right = variant == 0 or source == "s-0002"
            store.add_outcome(run, {"suite": "s", "item_id": f"{source}-p{variant}", "variant": variant,
                                    "test_id": f"t[{source}-p{variant}]", "outcome": "correct" if right else "wrong",
                                    "score": float(right)})
        store.db["contamination_items"].insert({"run_id": run, "suite": "s", "item_id": f"{source}-p0",
                                                "membership_pct": pct, "membership_basis": "reference (40)",
                                                "membership_n": 40, "min_k": -3.0, "evidence_verdict": "clean"})
    store.finish_run(run, 0)
    store.close()
    assert modeleval(["gate", str(run), "--db", "results.sqlite"]) == 10
    (gate,) = query(tmp_path / "results.sqlite", "SELECT value, verdict FROM gates WHERE gate = 'contamination'")
    assert gate["value"] == pytest.approx(1 / 3) and gate["verdict"] == "fail"  # the perturbation flags alone: 2/3
    rows = {r["item_id"]: r for r in query(tmp_path / "results.sqlite", "SELECT * FROM contamination_items")}
    assert [rows[f"{s}-p0"]["evidence_verdict"] for s in members] == ["contaminated", "perturbation only",
                                                                     "membership only"]
    assert rows["s-0000-p0"]["flagged"] == 1 and rows["s-0000-p0"]["min_k"] == -3.0
