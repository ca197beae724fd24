"Odd input, generated: `code_titles`, `search_top_k` and `clean_title` give one answer per input (or one clear ValueError) for any unicode, control characters, huge strings and non-strings."
import math
import numpy as np, pandas as pd, pytest
from hypothesis import given, settings, HealthCheck, strategies as st
from jobsim.core import run_folder
from jobsim.data import get_posting_split, posting_part, load_postings, clean_title
from jobsim.models import DEFAULT_MODEL
from jobsim.vote import reference_titles
from jobsim.coder import make_coder, code_titles, CODE_COLS
from jobsim.search import build_index, search_top_k, RESULT_COLS

FUZZ = settings(max_examples=60, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck), database=None)

any_char = st.characters(exclude_categories=()) # every code point, control characters and lone surrogates included
text = st.one_of(st.text(any_char, max_size=40),
                 st.text(st.sampled_from('\x00\t\r\n\x0b\x0c\x1b\u200b\u202e\ufeff\ud800 =+-@"\','), max_size=20),
                 st.builds(lambda s, n: s * n, st.text(any_char, min_size=1, max_size=4), st.integers(500, 20_000))) # huge
value = st.one_of(text, st.none(), st.integers(), st.floats(allow_nan=True, allow_infinity=True), st.booleans(), st.binary(max_size=10),
                  st.just(pd.NA), st.lists(st.integers(), max_size=2))


@pytest.fixture(scope='module')
def tiny_coder():
    "A coder over 120 references (60 of them postings, so the rescorer fits) and 30 dev titles: seconds to build."
    split = get_posting_split(run_folder('default'))
    refs = reference_titles()
    refs = pd.concat([refs[refs.source == 'posting'].sample(60, random_state=0), refs[refs.source != 'posting'].sample(60, random_state=0)])
    return make_coder(DEFAULT_MODEL, refs, posting_part(split, 'dev').sample(30, random_state=0),
                      grid={'n_vote': (10,), 'temperature': (0.1,), 'posting_weight': (2,), 'lexical_weight': (0.5,)}, progress=False)


@pytest.fixture(scope='module')
def tiny_index(tmp_path_factory):
    return build_index(DEFAULT_MODEL, load_postings().head(80), tmp_path_factory.mktemp('fuzz')/'ix.npz', progress=False)


@FUZZ
@given(titles=st.lists(value, max_size=6))
def test_code_titles_gives_one_row_per_input(tiny_coder, titles):
    out = code_titles(titles, k=3, coder=tiny_coder, progress=False)
    assert list(out.columns) == CODE_COLS and len(out) == len(titles)
    for t, r in zip(titles, out.itertuples()):
        assert isinstance(r.reason, str) and (r.reason in ('', 'low confidence')) == isinstance(r.onet_code, str)
        if isinstance(r.title, str): assert len(r.title) <= 1000 and r.title.encode('utf-8') is not None # writable to parquet and CSV
        else: assert pd.isna(r.title) and r.reason == 'missing title'
        assert 0 <= r.confidence <= 1 and len(r.codes) in (0, 3)


@FUZZ
@given(query=value, k=st.one_of(st.integers(-3, 200), st.floats(allow_nan=True), st.none(), st.text(max_size=2)))
def test_search_top_k_answers_or_says_why(tiny_index, query, k):
    try: hits = search_top_k(tiny_index, query, k=k)
    except ValueError as e:
        assert str(e) and '\n' not in str(e) # one clear line
        return
    assert list(hits.columns) == RESULT_COLS and 1 <= len(hits) <= min(int(k), len(tiny_index))
    assert hits['rank'].tolist() == list(range(1, len(hits) + 1))


@FUZZ
@given(title=value)
def test_clean_title_answers_or_says_why(title):
    try: out = clean_title(title)
    except ValueError as e:
        assert str(e) and '\n' not in str(e)
        return
    assert isinstance(out, str)


@FUZZ
@given(titles=st.lists(st.one_of(st.text(any_char, max_size=20), st.none()), min_size=1, max_size=4))
def test_a_title_codes_the_same_in_any_company(tiny_coder, titles):
    "Exactly the same codes and confidences alone as in a batch of generated titles."
    q = 'Registered Nurse - ICU'
    alone = code_titles([q], coder=tiny_coder).iloc[0]
    r = code_titles(titles + [q], coder=tiny_coder).iloc[-1]
    assert (r.codes, r.confidences, r.evidence_scores) == (alone.codes, alone.confidences, alone.evidence_scores)
