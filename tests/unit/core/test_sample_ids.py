"""samples=K on a suite (issue 29, part 2): its checks at decoration, the `-sK` test ids, and the one request
each sample asks for (the seed and cache index Generate(samples=K) would give it)."""

from __future__ import annotations

import pytest

import pytest_modeleval as modeleval
from pytest_modeleval.items import Item, split_sample, with_samples

SAMPLED = modeleval.Generate("{q}", max_tokens=4, temperature=0.7)


def test_a_sample_is_an_id_suffix_after_the_variant():
    item = Item("arith", 3, {"q": "1 + 1"})
    drawn = with_samples([item, Item("arith", 4, {"q": "2 + 2"}, variant=2)], 3)
    assert [i.id for i in drawn] == ["arith-0003-p0-s0", "arith-0003-p0-s1", "arith-0003-p0-s2",
                                     "arith-0004-p2-s0", "arith-0004-p2-s1", "arith-0004-p2-s2"]
    assert drawn[1].fields is item.fields and drawn[1] != drawn[0]  # distinct tests of one row
    assert item.id == "arith-0003-p0" and item.sample is None
    assert split_sample("arith-0004-p2-s12") == ("arith-0004-p2", 12)
    assert split_sample("arith-key-s3-p0") == ("arith-key-s3-p0", None)  # an id_field key ending -s3 is no sample


def test_each_sample_asks_for_its_own_seed_and_cache_index():
    item = Item("arith", 3, {"q": "1 + 1"})
    every = modeleval.Generate("{q}", max_tokens=4, temperature=0.7, samples=4).plan(item, str, 10)
    for drawn in with_samples([item], 4):
        (ask,) = SAMPLED.plan(drawn, str, 10)
        assert ask == every[drawn.sample]  # the same request and index: the two share cache entries
        assert (ask.sample, ask.request.seed) == (drawn.sample, 10 + drawn.sample)
    assert SAMPLED.value(["one"]) == "one"


@pytest.mark.parametrize("request_, samples, message", [
    (modeleval.Generate("{q}"), 3, "needs a sampled Generate \\(temperature > 0\\), got temperature=0.0"),
    (modeleval.Choices("{q}", [" a", " b"]), 3, "needs request=modeleval.Generate.*got Choices"),
    (None, 2, "got no request"),
    (modeleval.Generate("{q}", temperature=0.7, samples=2), 3, "leave Generate's own samples at 1"),
    (SAMPLED, 0, "samples must be a whole number >= 1, got 0"),
    (SAMPLED, True, "samples must be a whole number"),
])
def test_samples_need_a_sampled_generate(request_, samples, message):
    with pytest.raises(ValueError, match=message) as info:
        modeleval.suite("flip", data=[{"q": "x"}], request=request_, samples=samples)
    assert str(info.value).startswith("suite 'flip': ")  # the error names the suite


def test_samples_and_perturbations_do_not_combine():
    with pytest.raises(ValueError, match="cannot be combined with perturbations=2"):
        modeleval.suite("flip", data=[{"q": "x"}], request=SAMPLED, samples=3, perturbations=2, perturb=object())


def test_one_sample_is_an_ordinary_suite():
    mark = modeleval.suite("greedy", data=[{"q": "x"}], request=modeleval.Generate("{q}"), samples=1)
    assert mark.args[0].samples == 1
    mark = modeleval.suite("flip", data=[{"q": "x"}], request=SAMPLED, samples=5)
    assert mark.args[0].samples == 5
