"Titles from the real world: the posting split, the posting-style rules and the code-aware sampler."
import numpy as np, pandas as pd, pytest
from jobsim.data import load_postings, split_postings, posting_part, normalise_title, POSTING_PARTS
from jobsim.style import fit_style, style_from_split, rewrite_title, posting_style_set
from jobsim.trainset import OnlineTriplets, draw_negatives
from jobsim.finetune import CodeAwareBatchSampler


@pytest.fixture(scope='module')
def postings(): return load_postings()


@pytest.fixture(scope='module')
def split(postings): return split_postings(postings, seed=42)


def test_posting_split_puts_each_title_in_one_part(split):
    assert split.groupby('title_key').part.nunique().max() == 1
    assert set(split.part) == set(POSTING_PARTS)
    # case and punctuation variants of one title count as one title
    assert split.groupby(split.job_posting_title.map(normalise_title)).part.nunique().max() == 1
    shares = split.drop_duplicates('title_key').part.value_counts(normalize=True)
    assert abs(shares['train'] - 0.6) < 0.03 and abs(shares['dev'] - 0.2) < 0.03 and abs(shares['test'] - 0.2) < 0.03


def test_posting_split_is_deterministic_and_seeded(postings, split):
    assert split_postings(postings, seed=42).part.tolist() == split.part.tolist()
    assert split_postings(postings, seed=7).part.tolist() != split.part.tolist()


def test_posting_split_stratifies_codes_with_enough_titles(split):
    parts = {p: set(posting_part(split, p).onet_code) for p in POSTING_PARTS}
    per_code = split.drop_duplicates('title_key').groupby('onet_code').size()
    big = set(per_code[per_code >= 10].index)
    assert big <= parts['train'] and big <= parts['dev'] and big <= parts['test']


def test_style_is_learnt_from_the_train_part_only(split):
    poisoned = split.copy()
    test_rows = poisoned.index[poisoned.part != 'train']
    poisoned.loc[test_rows, 'job_posting_title'] = 'Qwzx Barista - Qwzxtown, QZ - $777/hr - Store #99999 (Qwzxshift)'
    poisoned.loc[test_rows, 'company'] = 'Qwzx Corp'
    style = style_from_split(poisoned)
    words = ' '.join(s for v in style.vocab.values() for s in v).lower()
    assert 'qwzx' not in words and '777' not in words
    assert style == style_from_split(split)        # the dev and test titles changed nothing


def test_rewrites_are_seeded_and_change_the_title(split):
    style = style_from_split(split)
    a = [rewrite_title('Registered Nurse', style, np.random.default_rng(5)) for _ in range(3)]
    b = [rewrite_title('Registered Nurse', style, np.random.default_rng(5)) for _ in range(3)]
    assert a == b
    outs = {rewrite_title('Software Developer', style, np.random.default_rng(i), min_decorations=2) for i in range(30)}
    assert 'Software Developer' not in outs and len(outs) > 20
    df = pd.DataFrame({'seed_title': ['Registered Nurse', 'Barista'], 'onet_code': ['29-1141.00', '35-3023.01'], 'onet_name': ['n', 'b']})
    assert posting_style_set(df, style, n=2, seed=1).equals(posting_style_set(df, style, n=2, seed=1))


def test_fit_style_refuses_empty_input():
    with pytest.raises(ValueError, match='at least one posting title'): fit_style([])


def test_code_aware_batches_never_mix_a_code():
    rng = np.random.default_rng(0)
    codes = rng.choice([f'c{i}' for i in range(40)], size=2000, p=np.r_[[0.3], np.full(39, 0.7/39)])
    sampler = CodeAwareBatchSampler(list(range(len(codes))), batch_size=32, drop_last=False, codes=codes, seed=3)
    for epoch in range(2):
        sampler.set_epoch(epoch)
        batches = list(sampler)
        assert len(batches) == len(sampler)
        for b in batches: assert len(set(codes[b])) == len(b)


def test_code_aware_training_rows_have_no_same_code_negative():
    train = pd.DataFrame({'jittered_title': [f'title {i}' for i in range(60)],
                          'seed_title': [f'Seed {i % 12}' for i in range(60)],
                          'onet_code': [f'{10 + i % 12 // 2}-1000.00' for i in range(60)], 'onet_name': 'x'})
    ot = OnlineTriplets(train, with_negative=True, seed=0, code_aware=True, code_pairs=True)
    code_of = dict(zip(ot.pool.title, ot.pool.onet_code))
    for e in range(3):
        ot.redraw(e)
        assert all(code_of[n] != c for n, c in zip(ot.negatives, ot.codes))
