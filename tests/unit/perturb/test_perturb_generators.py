"""Variant generators: deterministic, distinct, answer-preserving (or answer-recomputing) rewrites.

The numeric generator is checked on the real GSM8K test set: replaying a solution's annotation
chain with the original numbers must reproduce its '####' answer exactly, and every variant's
written-out solution must check out step by step and end on the variant's answer.
"""

from __future__ import annotations

import functools
import json
import random
import re
import string
from fractions import Fraction
from pathlib import Path

import pytest

from pytest_modeleval.perturb import numerals
from pytest_modeleval.perturb.arith import ExpressionError, evaluate
from pytest_modeleval.perturb.chain import (
    check_solution,
    final_answer,
    read_chain,
    replay,
)
from pytest_modeleval.perturb.choices import ShuffleChoices
from pytest_modeleval.perturb.names import (
    FEMALE,
    FEMALE_REPLACEMENTS,
    MALE,
    MALE_REPLACEMENTS,
    SubstituteNames,
)
from pytest_modeleval.perturb.numeric import NumericGSM8K
from pytest_modeleval.perturb.reframe import ReframeQuestion, reframed
from pytest_modeleval.perturb.variant import GeneratorError, Variant, fields_hash
from pytest_modeleval.suites.formats import mmlu_rows, mmlu_subjects

SPRINTS = {
    "question": "James decides to run 3 sprints 3 times a week.  He runs 60 meters each sprint.  "
                "How many total meters does he run a week?",
    "answer": "He sprints 3*3=<<3*3=9>>9 times\nSo he runs 9*60=<<9*60=540>>540 meters\n#### 540",
}
EGGS = {
    "question": "A box holds 12 eggs and a crate holds 120 eggs. Lena buys 3 boxes and a crate. "
                "How many eggs does she buy?",
    "answer": "The boxes hold 3*12=<<3*12=36>>36 eggs.\n"
              "With the crate she has 36+120=<<36+120=156>>156 eggs.\n#### 156",
}
MC = {"question": "Which is a prime?", "choices": ["4", "6", "7", "9"], "answer": 2}
NAMED = {
    "question": "Janet has 5 apples and John has 3. Janet gives John 2 apples. "
                "How many apples does Johnny's friend John have?",
    "answer": "John has 3+2=<<3+2=5>>5 apples, Janet has 3 left.\n#### 5",
}
GENERATORS = [NumericGSM8K(), ShuffleChoices(), SubstituteNames(), ReframeQuestion()]
ITEMS = {"numeric_gsm8k": SPRINTS, "shuffle_choices": MC, "substitute_names": NAMED, "reframe_question": SPRINTS}


@functools.cache
def gsm8k(path: Path) -> tuple[dict, ...]:
    return tuple(json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip())


@pytest.fixture
def gsm8k_rows(shared_data):
    return gsm8k(shared_data / "gsm8k" / "test.jsonl")


def changes(variant: Variant) -> dict[Fraction, Fraction]:
    """The numeric variant's note '3->5, 60->45' as {old: new}."""
    pairs = (part.split("->") for part in variant.note.split(", "))
    return {Fraction(old): Fraction(new) for old, new in pairs}


# ---------------------------------------------------------------- the protocol, for every generator


@pytest.mark.parametrize("generator", GENERATORS, ids=lambda g: g.name)
def test_same_seed_same_variants_other_seed_other_variants(generator):
    item = ITEMS[generator.name]
    first = generator.variants(dict(item), 3, seed=7)
    assert first == type(generator)().variants(dict(item), 3, seed=7)  # a fresh instance, same draw
    assert [v.text for v in first] != [v.text for v in generator.variants(dict(item), 3, seed=8)]
    assert len(first) == 3
    assert len({v.text for v in first}) == 3  # distinct
    original = item.get("question")
    for variant in first:
        assert variant.generator == generator.name and variant.version == generator.version and variant.seed == 7
        assert variant.fields != item  # differs from the original
        if generator.name != "shuffle_choices":
            assert variant.text != original and variant.fields["question"] == variant.text
    assert generator.variants(dict(item), 0, seed=7) == []
    assert isinstance(generator.surface, bool)


def test_the_draw_does_not_use_global_random():
    random.seed(1)
    first = NumericGSM8K().variants(dict(SPRINTS), 2, 0)
    random.seed(2)
    random.random()
    assert NumericGSM8K().variants(dict(SPRINTS), 2, 0) == first


def test_fields_hash_is_stable_and_order_free():
    assert fields_hash({"a": 1, "b": [1, 2]}) == fields_hash({"b": [1, 2], "a": 1})
    assert fields_hash({"a": 1}) != fields_hash({"a": 2})
    assert fields_hash({"a": 1}) == "f9d86028c6e0d64e"  # the same in every process and on every machine


@pytest.mark.parametrize("generator", GENERATORS, ids=lambda g: g.name)
@pytest.mark.parametrize("n, seed, error", [(-1, 0, ValueError), (1.5, 0, TypeError), (True, 0, TypeError),
                                            (1, "0", TypeError), (1, None, TypeError)])
def test_bad_arguments_are_named(generator, n, seed, error):
    with pytest.raises(error, match="n must|seed must"):
        generator.variants(dict(ITEMS[generator.name]), n, seed)


@pytest.mark.parametrize("generator", GENERATORS, ids=lambda g: g.name)
def test_fields_must_be_a_dict(generator):
    with pytest.raises(TypeError, match="fields must be a dict, got list"):
        generator.variants([1], 1, 0)


# ---------------------------------------------------------------- the safe calculator


@pytest.mark.parametrize("expr, value", [
    ("48/2", 24), ("0.1+0.2", Fraction(3, 10)), ("(3+4)*.5", Fraction(7, 2)), ("2**10", 1024), ("7//2", 3),
    ("7%3", 1), ("-(3+1)", -4), ("16-3-4", 9), ("1000*1/5", 200), ("10/3", Fraction(10, 3)),
])
def test_evaluate_is_exact(expr, value):
    assert evaluate(expr) == value


@pytest.mark.parametrize("expr, message", [
    ("a+1", "names are not allowed"),
    ("abs(-1)", "calls are not allowed"),
    ("__import__('os').system('true')", "calls are not allowed"),
    ("(1).real", "attributes are not allowed"),
    ("'1'+'2'", "only numbers"),
    ("[1][0]", "not allowed"),
    ("(lambda: 1)()", "calls are not allowed"),
    ("1 if 1 else 2", "IfExp nodes are not allowed"),
    ("2**0.5", "whole exponents"),
    ("2**1000", "exponent 1000 exceeds"),
    ("1/0", "division by zero"),
    ("1 <", "not an arithmetic expression"),
    ("1" * 600, "longer than"),
    ("True+1", "only numbers"),
])
def test_evaluate_refuses_everything_but_arithmetic(expr, message):
    with pytest.raises(ExpressionError, match=re.escape(message)):
        evaluate(expr)


# ---------------------------------------------------------------- numbers in prose


def test_number_tokens_are_whole_numbers():
    text = "He has 12 eggs, 120 pears, $80,000, $1.50, 3:30 pm, 1/2 cup, the 3rd day, 10am, .5 l and 5%."
    found = numerals.tokens(text)
    assert [(t.text, t.clean) for t in found] == [
        ("12", True), ("120", True), ("80,000", True), ("1.50", True), ("3", False), ("30", False), ("1", False),
        ("2", False), ("3", False), ("10", False), (".5", False), ("5", True),
    ]
    assert found[2].value == 80000 and found[3].value == Fraction(3, 2) and found[10].value == Fraction(1, 2)
    twelve = {t.start: "15" for t in found if t.value == 12}
    assert numerals.replace(text, found, twelve).startswith("He has 15 eggs, 120 pears")


def test_numbers_are_written_in_the_original_style():
    assert numerals.styled(Fraction(130000), "80,000") == "130,000"
    assert numerals.styled(Fraction(23, 10), "1.50") == "2.30"
    assert numerals.styled(Fraction(2), "2.5") == "2" and numerals.styled(Fraction(2), "20.00") == "2.00"
    assert numerals.styled(Fraction(5), "7") == "5"
    assert numerals.plain(Fraction(-1, 8)) == "-0.125"
    assert numerals.decimals(Fraction(1, 3)) is None and numerals.decimals(Fraction(3, 40)) == 3
    with pytest.raises(ValueError, match="no finite decimal"):
        numerals.plain(Fraction(1, 3))


# ---------------------------------------------------------------- numeric re-instantiation


def test_numeric_variant_replays_the_chain():
    for variant in NumericGSM8K().variants(dict(SPRINTS), 5, seed=0):
        new = changes(variant)
        sprints = new.get(Fraction(3), Fraction(3))
        meters = new.get(Fraction(60), Fraction(60))
        assert variant.answer == sprints * sprints * meters
        assert variant.text.count(f" {sprints} ") == 2  # both 3s are one value: both change together
        solution = variant.fields["answer"]
        assert check_solution(solution) == variant.answer
        assert solution.endswith(f"#### {variant.answer}")
        assert f"{sprints}*{sprints}=<<{sprints}*{sprints}={sprints * sprints}>>{sprints * sprints} times" in solution


def test_numeric_substitution_is_whole_token_only():
    variants = NumericGSM8K().variants(dict(EGGS), 8, seed=3)
    assert variants
    for variant in variants:
        new = changes(variant)
        old_tokens, new_tokens = numerals.tokens(EGGS["question"]), numerals.tokens(variant.text)
        assert len(old_tokens) == len(new_tokens)
        for old, now in zip(old_tokens, new_tokens):
            assert now.value == new.get(old.value, old.value), (variant.text, variant.note)
        boxes, per_box = new.get(Fraction(3), Fraction(3)), new.get(Fraction(12), Fraction(12))
        assert variant.answer == boxes * per_box + new.get(Fraction(120), Fraction(120))


def test_decimals_keep_their_places_and_the_answer_its_shape():
    item = {
        "question": "A pen costs $1.20 and an eraser costs $0.30. How much will 8 pens and 8 erasers cost?",
        "answer": "One of each costs 1.20+0.30=$<<1.20+0.30=1.50>>1.50.\n"
                  "8 of each cost 8*1.5=$<<8*1.5=12>>12.\n#### 12",
    }
    for variant in NumericGSM8K().variants(item, 6, seed=1):
        price = re.search(r"costs \$(\d+\.\d+) and", variant.text).group(1)
        assert len(price.split(".")[1]) == 2
        assert isinstance(variant.answer, int)  # a whole answer stays whole
        assert check_solution(variant.fields["answer"]) == variant.answer


@pytest.mark.parametrize("answer, message", [
    ("She has 5 apples.\n#### 5", "no <<a*b=c>> annotations"),
    ("Half is 40/2=<<40/2=20>>20\n#### 23", "'####' answer 23 is no annotation's result"),
    ("It is <<2*3=7>>7\n#### 7", "gives 6, not its stated result"),
    ("It is <<abs(3)=3>>3\n#### 3", "calls are not allowed"),
    ("It is <<2*3=6>>6", "no '#### <answer>' line"),
    ("Let x be it. x+x+30=110 so 2*x=80\nx=<<40=40>>40\n#### 40", "solves for an unknown"),
    ("He pays 2*8=16 more, so 40+16=<<40+16=56>>56\n#### 56", "16 in <<40+16=56>> was computed in the prose"),
])
def test_numeric_refusals_say_why(answer, message):
    item = {"question": "Ann has 40 apples and 8 pears and buys 2 more.", "answer": answer}
    with pytest.raises(GeneratorError, match=re.escape(message)):
        NumericGSM8K().variants(item, 1, 0)


def test_numeric_refuses_ambiguous_traces():
    # 9 is a question number and the result of the first step: which one does the second step read?
    item = {"question": "Bo buys 3 bags of 3 apples and 9 pears.",
            "answer": "3*3=<<3*3=9>>9\n9+9=<<9+9=18>>18\n#### 18"}
    message = "9 in <<9+9=18>> is both a question number and an earlier step's result"
    with pytest.raises(GeneratorError, match=re.escape(message)):
        NumericGSM8K().variants(item, 1, 0)
    # 2 is a result, and 'half' makes 2 a constant the wording implies
    item = {"question": "Bo has 4 cakes and gives a pair away; then he eats half of 10 pies.",
            "answer": "4-2=<<4-2=2>>2\n10/2=<<10/2=5>>5\n#### 5"}
    with pytest.raises(GeneratorError, match="constant the wording implies"):
        NumericGSM8K().variants(item, 1, 0)


def test_numeric_holds_values_it_cannot_trace_safely():
    # 2 with 'half' may be the constant; 1/2 is a fraction: neither is varied, only the 40 is
    item = {"question": "A robe takes 40 bolts of blue fiber and half that much white fiber, in 1/2 the time.",
            "answer": "It takes 40/2=<<40/2=20>>20 bolts of white fiber\n"
                      "So the total is 40+20=<<40+20=60>>60 bolts\n#### 60"}
    for variant in NumericGSM8K().variants(item, 4, seed=0):
        assert set(changes(variant)) == {Fraction(40)}
        assert "1/2 the time" in variant.text
        assert variant.answer == changes(variant)[Fraction(40)] * Fraction(3, 2)


def test_numeric_field_errors():
    with pytest.raises(GeneratorError, match="no field 'problem'"):
        NumericGSM8K(question_field="problem").variants(dict(SPRINTS), 1, 0)
    with pytest.raises(GeneratorError, match="field 'answer' must be non-empty text"):
        NumericGSM8K().variants({"question": "q", "answer": 5}, 1, 0)


def test_gsm8k_coverage_and_replay(gsm8k_rows):
    """Share of the 1,319 test problems the generator re-instantiates; on 50 of them, the replay
    with the original numbers reproduces the '####' answer, and every variant checks out."""
    generator = NumericGSM8K()
    handled = []
    for row in gsm8k_rows:
        try:
            handled.append((row, generator.variants(dict(row), 3, seed=0)))
        except GeneratorError as exc:
            assert str(exc)  # every refusal says why
    share = len(handled) / len(gsm8k_rows)
    print(f"\nGSM8K numeric re-instantiation: {len(handled)}/{len(gsm8k_rows)} = {share:.1%}")
    assert len(gsm8k_rows) == 1319 and share >= 0.50
    for row, variants in random.Random(0).sample(handled, 50):
        chain, _ = generator.plan(row["question"], row["answer"])
        original = replay(chain, {})
        assert original[chain.final].result == final_answer(row["answer"]) == chain.answer
        assert [step.result for step in original] == [step.result for step in chain.steps]
        assert variants and len({v.text for v in variants}) == len(variants)
        for variant in variants:
            assert variant.text != row["question"]
            replayed = replay(chain, changes(variant))
            assert replayed[chain.final].result == variant.answer  # the variant's answer is its chain's
            assert check_solution(variant.fields["answer"]) == variant.answer  # and its written steps agree
            new = changes(variant)
            for old, now in zip(numerals.tokens(row["question"]), numerals.tokens(variant.text)):
                assert now.value == (new.get(old.value, old.value) if old.clean else old.value)


def test_read_chain_traces_sources():
    chain = read_chain(SPRINTS["question"], SPRINTS["answer"])
    assert [[leaf.source for leaf in step.leaves] for step in chain.steps] == [["input", "input"], ["step", "input"]]
    assert chain.inputs == {3, 60} and chain.final == 1 and chain.answer == 540


# ---------------------------------------------------------------- multiple choice


def test_choices_remap_an_index():
    variants = ShuffleChoices().variants(dict(MC), 30, seed=0)
    assert len(variants) == 23  # every order of four but the original
    assert len({tuple(v.fields["choices"]) for v in variants}) == 23
    for variant in variants:
        assert variant.fields["choices"] != MC["choices"]
        assert variant.fields["choices"][variant.answer] == "7" and variant.fields["answer"] == variant.answer
        assert variant.text.startswith("Which is a prime?\nA. ") and f"{'ABCD'[variant.answer]}. 7" in variant.text
    assert MC["choices"] == ["4", "6", "7", "9"]  # the item itself is untouched


def test_choices_remap_a_letter_and_keep_it_a_letter():
    item = {"question": "Pick the vowel.", "choices": ("b", "c", "e", "d"), "answer": "C"}
    for variant in ShuffleChoices().variants(item, 5, seed=1):
        assert variant.answer in "ABCD" and isinstance(variant.answer, str)
        assert variant.fields["choices"][string.ascii_uppercase.index(variant.answer)] == "e"
        assert isinstance(variant.fields["choices"], tuple)


def test_equal_choices_give_distinct_readings_only():
    item = {"choices": ["x", "x", "y", "z"], "answer": 2}
    variants = ShuffleChoices().variants(item, 30, seed=0)
    assert len(variants) == 11  # 4!/2! orders read differently, minus the original
    assert all(v.fields["choices"][v.answer] == "y" for v in variants)


@pytest.mark.parametrize("item, message", [
    ({"choices": ["a", "b"], "answer": 2}, "answer 2 points past the 2 choices"),
    ({"choices": ["a", "b"], "answer": "E"}, "answer 'E' points past the 2 choices"),
    ({"choices": ["a", "b"], "answer": "b"}, "neither an index nor a letter"),
    ({"choices": ["a", "b"], "answer": True}, "neither an index nor a letter"),
    ({"choices": ["a"], "answer": 0}, "at least 2 choices"),
    ({"choices": "ab", "answer": 0}, "at least 2 choices"),
    ({"answer": 0}, "no field 'choices'"),
    ({"choices": ["a", "b"]}, "no field 'answer'"),
    ({"choices": ["a", "a"], "answer": 0}, "every order of the choices reads the same"),
])
def test_choices_refusals_say_why(item, message):
    with pytest.raises(GeneratorError, match=re.escape(message)):
        ShuffleChoices().variants(item, 2, 0)


def test_choices_on_real_mmlu_rows(shared_data):
    root = shared_data / "mmlu"
    subject = mmlu_subjects(root)[0]
    rows = mmlu_rows(root, subject, "test")
    assert len(rows) > 50
    for row in rows:
        right = row["choices"][row["answer"]]
        for variant in ShuffleChoices().variants(dict(row), 3, seed=0):
            assert variant.fields["choices"][variant.answer] == right
            assert sorted(variant.fields["choices"]) == sorted(row["choices"])
            assert variant.fields["question"] == row["question"] and variant.fields["subject"] == subject
        # MMLU's flat row shape: one column per choice, the answer as read from a CSV (a digit string)
        flat = {"question": row["question"], **{f"choice{i}": c for i, c in enumerate(row["choices"])},
                "answer": str(row["answer"])}
        for variant in ShuffleChoices.mmlu().variants(flat, 3, seed=0):
            assert isinstance(variant.answer, str) and variant.fields["answer"] == variant.answer
            assert variant.fields[f"choice{variant.answer}"] == right
            assert variant.text == ShuffleChoices.mmlu().prompt(variant.fields)


def test_mmlu_shape_needs_its_columns():
    with pytest.raises(GeneratorError, match="no choice column\\(s\\) choice2, choice3"):
        ShuffleChoices.mmlu().variants({"choice0": "a", "choice1": "b", "answer": 0}, 1, 0)


# ---------------------------------------------------------------- names


def test_names_are_swapped_consistently_across_question_and_answer():
    for variant in SubstituteNames().variants(dict(NAMED), 6, seed=0):
        mapping = dict(pair.split("->") for pair in variant.note.split(", "))
        assert set(mapping) == {"Janet", "John"}
        assert mapping["Janet"] in FEMALE_REPLACEMENTS and mapping["John"] in MALE_REPLACEMENTS
        question, answer = variant.fields["question"], variant.fields["answer"]
        for old, new in mapping.items():
            for before, after in ((NAMED["question"], question), (NAMED["answer"], answer)):
                assert len(re.findall(rf"\b{old}\b", before)) == len(re.findall(rf"\b{new}\b", after))
                assert not re.search(rf"\b{old}\b", after)
        assert "Johnny's" in question  # whole words only
        assert variant.answer is None  # the answer stands
        assert re.sub(r"\b(" + "|".join(mapping.values()) + r")\b", "NAME", question) == \
            re.sub(r"\b(Janet|John)\b", "NAME", NAMED["question"])


def test_a_replacement_never_collides_with_a_name_already_there():
    item = {"question": "Janet met " + ", ".join(FEMALE_REPLACEMENTS[:-1]) + ".", "answer": "#### 1"}
    variants = SubstituteNames().variants(item, 5, seed=0)
    assert [v.note for v in variants] == [f"Janet->{FEMALE_REPLACEMENTS[-1]}"]  # the only free name


def test_names_refusals_and_lists():
    with pytest.raises(GeneratorError, match="no known first name in field 'question'"):
        SubstituteNames().variants({"question": "A farmer has 5 cows.", "answer": "John"}, 1, 0)
    with pytest.raises(TypeError, match="answer_fields must be a tuple"):
        SubstituteNames(answer_fields="answer")
    everyone = FEMALE + MALE + FEMALE_REPLACEMENTS + MALE_REPLACEMENTS
    assert len(FEMALE + MALE) >= 60 and len(set(everyone)) == len(everyone)
    assert not {"Bill", "May", "June", "Rose", "Will", "Grace"} & set(everyone)  # names that are also words


def test_names_on_real_gsm8k(gsm8k_rows):
    done = 0
    for row in gsm8k_rows[:200]:
        try:
            variants = SubstituteNames().variants(dict(row), 2, seed=0)
        except GeneratorError:
            continue
        done += 1
        for variant in variants:
            assert final_answer(variant.fields["answer"]) == final_answer(row["answer"])
            assert numerals.tokens(variant.text) == [] or \
                [t.value for t in numerals.tokens(variant.text)] == [t.value for t in numerals.tokens(row["question"])]
    assert done >= 40


# ---------------------------------------------------------------- reframing


@pytest.mark.parametrize("text, expected", [
    ("Ann has 3 bags. How many apples does Ann have?", "Ann has 3 bags. What is the number of apples that Ann has?"),
    ("If Bo has 3, how many cards do they have in total?",
     "If Bo has 3, what is the number of cards that they have in total?"),
    ("What is the number of apples that Ann has?", "How many apples does Ann have?"),
    ("Bo eats 2 a day. How many eggs will he eat in a week?",
     "Bo eats 2 a day. What is the number of eggs that he will eat in a week?"),
    ("Tom is 5. How old is Tom now?", "Tom is 5. What is Tom's age now?"),
    ("It rains. How long will it take to dry?", "It rains. How much time will it take to dry?"),
    ("A pen is $2. What is the total cost?", "A pen is $2. Calculate the total cost."),
    ("A pen is $2. Calculate the total cost of 3 pens.", "A pen is $2. What is the total cost of 3 pens?"),
    ("Shoes cost $5. How much did her bag cost?", "Shoes cost $5. What did her bag cost?"),
])
def test_frame_templates(text, expected):
    assert expected in [new for _, new in reframed(text)]


def test_reframe_variants_keep_the_facts():
    item = {"question": "Ann has 3 bags of 4 apples. How many apples does Ann have?", "answer": "#### 12"}
    variants = ReframeQuestion().variants(item, 20, seed=0)
    assert len(variants) == 9  # (one frame + as is) x (4 lead-ins + none), less the original
    for variant in variants:
        assert "Ann has 3 bags of 4 apples." in variant.text and variant.fields["answer"] == "#### 12"
        assert variant.answer is None


def test_reframe_refuses_text_it_cannot_touch():
    with pytest.raises(GeneratorError, match="no frame template matches field 'question'"):
        ReframeQuestion().variants({"question": "The sky is blue."}, 1, 0)
    assert ReframeQuestion().variants({"question": "Is the sky blue?"}, 1, 0)  # a lead-in still applies


def test_reframe_on_real_gsm8k(gsm8k_rows):
    framed = sum(bool(reframed(row["question"])) for row in gsm8k_rows)
    handled = 0
    for row in gsm8k_rows:
        try:
            ReframeQuestion().variants(dict(row), 1, 0)
            handled += 1
        except GeneratorError:
            pass
    print(f"\nGSM8K reframing: a frame template on {framed}/{len(gsm8k_rows)}, some variant on {handled}")
    assert framed >= 300 and handled >= 1250
