"""A pairwise verdict asked K times (judge_samples, judge/stability.py): the calls, flip counting, the tie and
majority rules, and one declaration run through the planner with a scripted judge (no model loaded)."""

from __future__ import annotations

import pytest

from pytest_modeleval.judge.stability import (check, flip_count, judge_calls, sample_index, settle,
                                              verdict_count)

# --- the pure rules -------------------------------------------------------------------------------


def test_calls_alternate_orders_or_repeat_the_drawn_one():
    assert judge_calls("B", 4, both_orders=True) == [("B", 0), ("A", 0), ("B", 1), ("A", 1)]
    assert judge_calls("A", 3, both_orders=False) == [("A", 0), ("A", 1), ("A", 2)]
    assert judge_calls("A", verdict_count(None, True), True) == [("A", 0), ("B", 0)]  # both_orders as always
    assert verdict_count(None, False) == 1 and verdict_count(5, False) == 5


def test_sample_indices_keep_the_first_repetitions_keys_and_never_collide():
    assert [sample_index(0, a, retries=2) for a in range(3)] == [0, 1, 2]  # as a single verdict always asked
    indices = [sample_index(r, a, retries=2) for r in range(4) for a in range(3)]
    assert len(set(indices)) == len(indices) and sample_index(1, 0, retries=2) == 3


@pytest.mark.parametrize("outcomes, flips", [(["win"], 0), (["win", "win", "win"], 0), (["win", "loss"], 1),
                                             (["win", "win", "loss", "tie"], 2), ([], 0)])
def test_flips_count_the_verdicts_off_the_most_common(outcomes, flips):
    assert flip_count(outcomes) == flips


@pytest.mark.parametrize("outcomes, tie_rule, majority_rule", [
    (["win", "win"], "win", "win"),
    (["win", "loss"], "tie", "tie"),  # no majority: a tie either way
    (["win", "win", "loss"], "tie", "win"),
    (["loss", "loss", "loss", "win"], "tie", "loss"),
    (["win", "win", "loss", "loss"], "tie", "tie"),  # half is not a majority
    (["win", "tie", "loss"], "tie", "tie"),
])
def test_flipped_verdicts_count_as_a_tie_or_by_the_majority(outcomes, tie_rule, majority_rule):
    assert settle(outcomes, "tie") == tie_rule and settle(outcomes, "majority") == majority_rule


@pytest.mark.parametrize("samples, both_orders, rule, rate, problem", [
    (0, False, "tie", 0.2, "judge_samples must be a whole number >= 1, got 0"),
    (True, False, "tie", 0.2, "judge_samples must be"),
    (3, True, "tie", 0.2, "judge_samples must be even, got 3"),
    (2, False, "vote", 0.2, "judge_flips must be one of 'tie', 'majority', got 'vote'"),
    (2, False, "tie", 1.5, "judge_max_flip_rate must be a share between 0 and 1, got 1.5"),
])
def test_settings_that_cannot_be_asked_name_the_option(samples, both_orders, rule, rate, problem):
    with pytest.raises(ValueError, match=f"^Pairwise: .*{problem}"):
        check("Pairwise", samples, both_orders, rule, rate)


def test_a_declaration_checks_its_stability_settings_at_import():
    from pytest_modeleval import Pairwise

    with pytest.raises(ValueError, match="Pairwise: with both_orders=True .* judge_samples must be even"):
        Pairwise("{q}", reference="{r}", both_orders=True, judge_samples=3)
    assert Pairwise("{q}", reference="{r}", judge_samples=3).judge_flips == "tie"


# --- a declaration through the planner, with a scripted judge -------------------------------------


class PositionBiasedJudge:
    """Prefers the candidate (CAND) when greedy; its sampled repetitions pick the first slot whatever it shows,
    and its first sampled call with the candidate first is unreadable (so it is retried)."""

    def __init__(self):
        self.requests = []

    def generate(self, requests, samples, truncate=None):
        from pytest_modeleval.runtime.predictor import Prediction

        out = []
        for request, sample in zip(requests, samples):
            self.requests.append((request, sample))
            if "[Answer A]" not in request.prompt:
                text = "CAND"  # the model under evaluation's answer
            else:
                candidate_slot = "A" if "[Answer A]\nCAND" in request.prompt else "B"
                if sample == 0:
                    text = f"[[{candidate_slot}]]"
                elif sample == 3 and candidate_slot == "A":
                    text = "Both are fine."  # no verdict: retried at sample 4
                else:
                    text = "[[A]]"
            out.append(Prediction(text, 1, 1, False))
        return out


def render(prompt, chat, role="model") -> str:
    """Chat messages as their plain text, so that the script can see which answer is shown first."""
    return "\n".join(m["content"] for m in prompt) if isinstance(prompt, list) else str(prompt)


def judge_item(declaration):
    from pytest_modeleval.items import Item
    from pytest_modeleval.runtime.planner import Planned, Planner

    judge = PositionBiasedJudge()
    planner = Planner(lambda role: judge, render, seed=7, judge_hash="j" * 64)
    planned = Planned(declaration.steps(Item(suite="s", index=0, fields={"q": "Q?", "r": "REF"}),
                                        planner.context("s", False)))
    planner.execute([planned])
    calls = [(r, s) for r, s in judge.requests if "[Answer A]" in r.prompt]
    return planned.value, calls


def test_k_verdicts_are_asked_in_both_orders_with_distinct_seeds_mapped_back_and_summarized():
    from pytest_modeleval import Pairwise
    from pytest_modeleval.judge.summary import lines, summarize

    judgment, calls = judge_item(Pairwise("{q}", reference="{r}", both_orders=True, judge_samples=4,
                                          judge_flips="majority", retries=2))
    first = judgment.candidate_slots[0]
    assert judgment.candidate_slots == [first, "AB".replace(first, ""), first, "AB".replace(first, "")]
    asked = sorted(("[Answer A]\nCAND" in r.prompt, s, r.temperature, r.seed) for r, s in calls)
    # repetition 0 greedy in both orders (the keys both_orders always had), repetition 1 sampled at
    # index 3 and its own seed; the unreadable one retried at index 4, never reusing another call's key
    assert asked == [(False, 0, 0.0, 7), (False, 3, 0.7, 10), (True, 0, 0.0, 7), (True, 3, 0.7, 10),
                     (True, 4, 0.7, 11)]
    assert len({(r.prompt, s) for r, s in calls}) == len(calls)
    # mapped back: greedy wins twice; sampled "[[A]]" wins where the candidate sat first, loses where second
    assert sorted(judgment.outcomes) == ["loss", "win", "win", "win"] and judgment.slot_verdicts.count("A") == 3
    assert judgment.flips == 1 and judgment.outcome == "win" and judgment.attempts == 2  # the majority
    record = judgment.record()
    assert record["flips"] == 1 and len(record["slot_verdicts"]) == 4 and len(record["outputs"]) == 4

    stable = Pairwise("{q}", reference="{r}", both_orders=True)  # K=2, greedy: this judge never flips
    s = summarize("s", [record, judge_item(stable)[0].record()])
    assert (s.samples, s.flipped, s.flip_rate, s.unstable, s.flip_rule) == (4, 1, 0.5, True, "majority")
    assert (s.wins, s.n) == (2, 2)
    text = "\n".join(lines([s], {("j" * 64, judgment.template_sha256): "validated (kappa 0.812)"}))
    assert ("s: the judge's 4 verdicts per item (both orders, sampled) disagreed on 1 of 2 items (flip rate "
            "50.0%; counted by their majority, a tie without one)") in text
    assert "validated (kappa 0.812); UNSTABLE: its verdicts flipped on 50.0% of 2 items, above the 20.0%" in text


def test_a_flipping_verdict_is_a_tie_by_default_and_one_order_repeats_with_seeds():
    from pytest_modeleval import Pairwise

    judgment, calls = judge_item(Pairwise("{q}", reference="{r}", judge_samples=3, judge_max_flip_rate=0.6))
    slot = judgment.candidate_slots[0]
    assert judgment.candidate_slots == [slot] * 3
    assert sorted(s for _, s in calls) == ([0, 3, 4, 6] if slot == "A" else [0, 3, 6])  # rep r from index 3r
    assert judgment.outcome == ("win" if slot == "A" else "tie") and judgment.max_flip_rate == 0.6


def test_the_flip_count_is_stored_with_the_k_verdicts_and_read_back(tmp_path):
    from pytest_modeleval import Pairwise
    from pytest_modeleval.judge.feature import RunJudgments
    from pytest_modeleval.results.store import Store

    judgment, _ = judge_item(Pairwise("{q}", reference="{r}", both_orders=True, judge_samples=4))
    store = Store(tmp_path / "r.sqlite")
    store.add_judgment(1, {"suite": "s", "test_id": "t::s-0", "item_id": "s-0000", "variant": 0,
                           "judgment": judgment.record()})
    settings = type("Settings", (), {"judge_min_kappa": 0.7})()
    (row,) = RunJudgments.from_recorded(store, 1, None, settings).by_suite["s"]
    assert row["flips"] == 1 and row["slot_verdicts"] == judgment.slot_verdicts and row["outcome"] == "tie"
    assert RunJudgments.from_recorded(store, 1, None, settings).summaries()[0].flipped == 1
    store.close()


def test_validation_asks_k_verdicts_a_pair_and_reports_how_often_they_differed():
    """`modeleval judge validate --samples K`: kappa of the settled verdict, as a suite with judge_samples=K has it."""
    from types import SimpleNamespace

    from pytest_modeleval.judge import templates
    from pytest_modeleval.judge.validate import agreement, judge_labels

    pairs = [SimpleNamespace(question=f"Q{i}?", first="CAND", second=f"other {i}", label="1") for i in range(6)]
    template = templates.pairwise(None, reasoning=False)

    def validated(**asked):
        judge = PositionBiasedJudge()
        judgments = judge_labels(pairs, judge, render, "j" * 64, template, seed=7, **asked)
        return agreement(pairs, judgments, judge_hash="j" * 64, judge_ref="scripted", template_sha256="t",
                         labels_file="l", labels_sha256="s", min_kappa=0.7, both_orders=asked.get("both_orders", False),
                         samples=asked.get("samples") or 1, flip_rule=asked.get("flips", "tie")), judge

    single, judge = validated()
    assert single.agreement == 1.0 and single.flip_rate == 0.0 and len(judge.requests) == 6  # greedy: always CAND
    repeated, judge = validated(samples=2, both_orders=True)
    assert repeated.flip_rate == 0.0 and len(judge.requests) == 12  # both orders, greedy: it never flips
    sampled, _ = validated(samples=4, both_orders=True, flips="majority")
    # its sampled repetitions pick slot A whatever it shows: one of the four differs, and the majority keeps "1"
    assert sampled.flip_rate == 1.0 and sampled.agreement == 1.0
    tied, _ = validated(samples=4, both_orders=True)
    assert tied.agreement == 0.0 and tied.confusion == {"1->tie": 6}  # settled as a tie, it disagrees throughout
    record = tied.record()
    assert (record["samples"], record["flip_rule"], record["flip_rate"]) == (4, "tie", 1.0)


@pytest.mark.parametrize("args, problem", [
    (["--samples", "3", "--both-orders"], "--samples 3: must be a whole number >= 1, and even with --both-orders"),
    (["--samples", "0"], "--samples 0: must be a whole number >= 1"),
])
def test_judge_validate_names_a_k_it_cannot_ask(tmp_path, capsys, args, problem):
    from pytest_modeleval.cli import main as modeleval

    status = modeleval(["judge", "validate", "--judge", "embedded", "--labels", str(tmp_path / "l.jsonl"),
                        "--db", str(tmp_path / "r.sqlite"), *args])
    assert status == 2 and problem in capsys.readouterr().err
