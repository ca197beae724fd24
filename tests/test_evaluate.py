"Evaluation metrics against hand-computed values, the lexical baselines through the same functions, and `jobsim evaluate`."
import json, os, subprocess, sys
from pathlib import Path
import numpy as np, pandas as pd, pytest
from jobsim.models import TfidfEncoder
from jobsim.metrics import (retrieval_metrics, triplet_metrics, posting_onet_metrics, rank_queries, sample_negatives,
                            FuzzyMatcher, corpus_titles)
from jobsim.evaluate import evaluate_model, ir_evaluator_metrics


class WordCounts:
    "Deterministic toy encoder: one dimension per word of a small vocabulary."
    vocab = ['registered', 'nurse', 'software', 'engineer', 'developer', 'data', 'scientist']
    def encode(self, titles, **kw): return np.array([[t.lower().split().count(w) for w in self.vocab] for t in titles], dtype=np.float32)


# Corpus RN, SE, DS. Scores (cosine): Nurse -> (.71, 0, 0) rank 1; Software Developer -> (0, .5, 0) rank 1;
# Data Nurse -> (.5, 0, .5): its positive DS ties with RN -> rank 2; Scientist Engineer -> (0, .5, .5), positive RN -> rank 3.
TINY = pd.DataFrame({'jittered_title': ['Nurse', 'Software Developer', 'Data Nurse', 'Scientist Engineer'],
                     'seed_title': ['Registered Nurse', 'Software Engineer', 'Data Scientist', 'Registered Nurse'],
                     'onet_code': ['29-1141.00', '15-1252.00', '15-1252.00', '29-1141.00']})


def test_retrieval_metrics_match_hand_computed_ranks_with_ties():
    m = retrieval_metrics(WordCounts(), TINY)
    assert m['recall@1'] == pytest.approx(2/4)       # the tie is not a hit
    assert m['recall@5'] == m['recall@10'] == 1
    assert m['mrr@10'] == pytest.approx((1 + 1 + 1/2 + 1/3)/4)
    assert m['ndcg@10'] == pytest.approx((1 + 1 + 1/np.log2(3) + 1/np.log2(4))/4)
    assert (m['n_queries'], m['n_corpus']) == (4, 3)
    assert retrieval_metrics(WordCounts(), TINY, ks=(1, 2))['recall@2'] == pytest.approx(3/4)


def test_rank_queries_gives_per_query_ranks_and_top_title():
    rq = rank_queries(WordCounts(), TINY)
    assert rq['rank'].tolist() == [1, 1, 2, 3]
    assert rq['hit@1'].tolist() == [True, True, False, False]
    assert rq.loc[0, 'top1'] == 'Registered Nurse' and rq.loc[0, 'score'] == pytest.approx(2**-.5)
    assert 'onet_code' in rq.columns


def test_absent_positive_is_a_clear_error():
    with pytest.raises(ValueError, match=r"1 query\(ies\) have a seed title that is not in the corpus \(2 titles\), e\.g\. \['Data Scientist'\]"):
        retrieval_metrics(WordCounts(), TINY, corpus=['Registered Nurse', 'Software Engineer'])
    with pytest.raises(ValueError, match="corpus must be 'split', 'all' or a list"):
        retrieval_metrics(WordCounts(), TINY, corpus='everything')
    with pytest.raises(ValueError, match='needs columns jittered_title and seed_title'):
        retrieval_metrics(WordCounts(), TINY.drop(columns='seed_title'))


def test_all_corpus_is_every_seed_title_plus_missing_ones():
    from jobsim.data import load_seeds
    seeds = load_seeds().seed_title
    known = seeds.iloc[:3].tolist()
    docs = corpus_titles(TINY.assign(seed_title=known + ['Not A Real Seed Title']), 'all')
    assert len(docs) == seeds.nunique() + 1 and docs[-1] == 'Not A Real Seed Title' and set(seeds) <= set(docs)


def test_triplet_metrics_hand_computed():
    # two codes: the nurse rows' negatives are drawn from {SE, DS}, the computer rows' negative is forced to RN
    df = TINY.assign(onet_code=['29-1141.00', '15-1252.00', '15-1252.00', '29-1141.00'])
    t = sample_negatives(df, seed=0)
    assert t.negative[1] == t.negative[2] == 'Registered Nurse'
    assert set(t.negative[[0, 3]]) <= {'Software Engineer', 'Data Scientist'}
    neg0 = 0.0                                   # Nurse vs SE or DS: no shared word
    neg3 = 0.5                                   # Scientist Engineer vs SE or DS: one shared word of two, both cases
    pos, neg = np.array([2**-.5, .5, .5, 0]), np.array([neg0, 0, .5, neg3])
    m = triplet_metrics(WordCounts(), df, seed=0)
    assert m['triplet_accuracy'] == pytest.approx(2/4)   # Data Nurse ties (.5 vs .5): not a win
    assert m['cos_pos'] == pytest.approx(pos.mean()) and m['cos_neg'] == pytest.approx(neg.mean())
    assert m['margin'] == pytest.approx((pos - neg).mean()) and m['n_triplets'] == 4
    assert triplet_metrics(WordCounts(), df, n_negatives=3)['n_triplets'] == 12
    with pytest.raises(ValueError, match='at least two different onet_codes'): sample_negatives(df.assign(onet_code='29-1141.00'))


def test_posting_onet_metrics_hand_computed():
    seeds = pd.DataFrame({'seed_title': ['Registered Nurse', 'Software Engineer', 'Data Scientist'], 'onet_code': ['29-1141.00', '15-1252.00', '15-2051.00']})
    posts = pd.DataFrame({'job_posting_title': ['Nurse', 'Software Developer', 'Data Nurse', 'Plumber'],
                          'onet_code': ['29-1141.00', '15-2051.00', '29-1141.00', '99-9999.00']})
    # Nurse: right code first. Software Developer (15-2051): 15-1252 first, its own code ties with 29-1141 at 0 -> rank 3,
    # major group 15 first. Data Nurse (29-1141) ties with 15-2051 at .5 -> rank 2 (code and group). Plumber: unknown code.
    m = posting_onet_metrics(WordCounts(), posts, seeds)
    assert [m['acc@1'], m['acc@5'], m['major_acc@1'], m['major_acc@5']] == pytest.approx([1/3, 1, 2/3, 1])
    assert (m['n_postings'], m['n_postings_unmatched']) == (3, 1)
    with pytest.raises(ValueError, match='no posting has an O\\*NET code'): posting_onet_metrics(WordCounts(), posts.iloc[3:], seeds)


def test_lexical_baselines_run_through_the_same_functions():
    tf = TfidfEncoder(['Registered Nurse', 'Software Engineer', 'Data Scientist'])
    exact = pd.DataFrame({'jittered_title': ['registered nurse', 'Data Scientist'], 'seed_title': ['Registered Nurse', 'Data Scientist']})
    assert retrieval_metrics(tf, TINY)['n_corpus'] == 3
    assert retrieval_metrics(tf, exact)['recall@1'] == 1
    assert 0 <= triplet_metrics(tf, TINY)['triplet_accuracy'] <= 1
    fz = FuzzyMatcher(workers=1)
    assert retrieval_metrics(fz, exact)['recall@1'] == 1
    # "Nurse" is a token subset of both nurse titles: scores tie at 1.0, so neither query counts at rank 1
    tie = pd.DataFrame({'jittered_title': ['Nurse', 'Nurse'], 'seed_title': ['Registered Nurse', 'Nurse Practitioner']})
    m = retrieval_metrics(fz, tie)
    assert m['recall@1'] == 0 and m['mrr@10'] == pytest.approx(.5)
    with pytest.raises(TypeError, match='has no embeddings'): fz.encode(['Nurse'])


def test_agrees_with_information_retrieval_evaluator_on_real_titles():
    from jobsim.models import load_model
    from jobsim.data import get_splits
    test = get_splits().test
    df = test[test.seed_title.isin(test.seed_title.unique()[:25])]
    model = load_model('sentence-transformers/all-MiniLM-L6-v2', device='cpu')
    ours, theirs = retrieval_metrics(model, df), ir_evaluator_metrics(model, df)
    for k, v in theirs.items(): assert ours[k] == pytest.approx(v, abs=1e-6), k


def test_occupational_neighbours_by_hand():
    from jobsim.evaluate import neighbour_metrics
    seeds = pd.DataFrame({'seed_title': ['Registered Nurse', 'Nurse', 'Software Engineer', 'Software Developer', 'Data Scientist'],
                          'onet_code': ['29-1141.00', '29-1141.00', '15-1252.00', '15-1252.00', '15-2051.00']})
    m = neighbour_metrics(WordCounts(), seeds, seeds, k=1)
    assert (m['neigh_p@1'], m['neigh_map'], m['n_neighbour_queries']) == (1.0, 1.0, 4)   # Data Scientist has no neighbour
    class Scattered(WordCounts):   # same-code titles pushed apart: the nurse titles now look like the computer ones
        def encode(self, titles, **kw):
            e = super().encode(titles); return np.c_[e[:, 2:4] + e[:, :1], e[:, 1:2] + e[:, 4:5], e[:, 5:]]
    assert neighbour_metrics(Scattered(), seeds, seeds, k=1)['neigh_p@1'] < 1


def test_evaluate_model_sample_is_small_and_complete():
    r = evaluate_model('tfidf', sample=5)
    assert r['model'] == 'tfidf' and r['n_corpus'] == 5 and r['n_queries'] == 25
    for k in ('recall@1', 'recall@5', 'recall@10', 'mrr@10', 'ndcg@10', 'triplet_accuracy', 'cos_pos', 'cos_neg', 'margin', 'acc@1', 'acc@5', 'major_acc@1', 'major_acc@5',
              'post_acc@1', 'post_acc@5', 'post_major_acc@1', 'style_recall@1', 'style_mrr@10', 'neigh_p@5', 'neigh_map'):
        assert 0 <= r[k] <= 1 or k in ('margin', 'cos_neg'), k
    assert 15 < r['post_n_postings'] <= 25 and r['n_style_queries'] == 15   # 5x the sample of posting test titles (less those whose code has no seed title), 3 rewrites per seed title
    with pytest.raises(ValueError, match="split must be one of train, val, test, got 'dev'"): evaluate_model('tfidf', split='dev')


def run_cli(*args):
    return subprocess.run([str(Path(sys.executable).parent/'jobsim'), *args], capture_output=True, text=True, env=os.environ.copy())


def test_cli_evaluate_prints_the_table_and_writes_json(home):
    r = run_cli('evaluate', '--split', 'test', '--sample', '4', '--run', 'ci')
    assert r.returncode == 0, r.stderr
    path = home/'runs'/'ci'/'evaluate'/'all-MiniLM-L6-v2_test_split.json'
    saved = json.loads(path.read_text())
    assert saved['model'] == 'sentence-transformers/all-MiniLM-L6-v2' and saved['sample'] == 4 and saved['n_queries'] == 20
    assert 'recall@1' in r.stdout and 'sentence-transformers/all-MiniLM-L6-v2' in r.stdout
    assert 'post_acc@1' in r.stdout and 'style_recall@1' in r.stdout and 'neigh_p@5' in r.stdout   # one table, both kinds of sets


def test_cli_evaluate_bad_split_is_an_error_not_a_traceback(home):
    r = run_cli('evaluate', '--model', 'tfidf', '--split', 'dev')
    assert r.returncode == 1
    assert r.stderr.strip().endswith("error: --split must be one of train, val, test, got 'dev'")


def test_cli_compare_saves_table_and_charts_with_a_skipped_row(home):
    r = run_cli('compare', '--models', 'tfidf,fuzzy,sentence-transformers/all-MiniLM-L12-v2', '--sample', '3', '--n_speed', '30', '--repeats', '1', '--run', 'ci')
    assert r.returncode == 0, r.stderr
    out = home/'runs'/'ci'/'compare'
    df = pd.read_csv(out/'compare.csv')
    assert df.model.tolist() == ['tfidf', 'fuzzy', 'sentence-transformers/all-MiniLM-L12-v2']
    assert df.status.tolist()[:2] == ['ok', 'ok'] and df.status[2] in ('ok', 'skipped: not available offline')
    assert (df['search_queries_per_s'][:2] > 0).all() and df['n_queries'][0] == 15
    assert json.loads((out/'compare.json').read_text())[0]['model'] == 'tfidf'
    assert 'plotly' in (out/'quality_vs_speed.html').read_text() and (out/'metrics.html').exists()
    assert 'search queries/s (CPU)' in r.stdout


def test_cli_evaluate_without_model_compares_fine_tuned_with_its_base(home):
    from jobsim.models import load_model
    ft = home/'models'/'fine_tuned'
    load_model('sentence-transformers/all-MiniLM-L6-v2', device='cpu').save(str(ft))
    (ft/'jobsim_train.json').write_text(json.dumps({'config': {'base_model': 'sentence-transformers/all-MiniLM-L6-v2'}}))
    r = run_cli('evaluate', '--sample', '3', '--run', 'ci')
    assert r.returncode == 0, r.stderr
    out = home/'runs'/'ci'/'evaluate'
    assert sorted(p.name for p in out.glob('*.json')) == ['all-MiniLM-L6-v2_test_split.json', 'fine_tuned_test_split.json']
    base, tuned = (json.loads((out/f).read_text()) for f in ('all-MiniLM-L6-v2_test_split.json', 'fine_tuned_test_split.json'))
    assert base['recall@1'] == pytest.approx(tuned['recall@1'])   # an unchanged copy scores the same as its base
