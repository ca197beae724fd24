"Postings search: the saved index follows its model and data, searches rank sensibly, odd input never crashes."
import shutil
import numpy as np, pandas as pd, pytest
from jobsim.cli import main
from jobsim.data import load_postings
from jobsim.models import DEFAULT_MODEL, resolve_model
from jobsim.data import normalise_title
from jobsim.search import (build_index, index_path, search_top_k, similar_postings, top_k, build_ann, ann_for, ann_path,
                           faiss_available, model_fingerprint, posting_groups, SearchIndex, MAX_QUERY_CHARS)


@pytest.fixture(scope='module')
def postings():
    "A few hundred postings with nurses, cooks and engineers among them."
    p = load_postings()
    keep = p.job_posting_title.str.contains('Nurse|Cook|Engineer', case=False)
    return pd.concat([p[keep].head(150), p[~keep].head(150)]).reset_index(drop=True)


@pytest.fixture(scope='module')
def index(postings, tmp_path_factory):
    return build_index(DEFAULT_MODEL, postings, tmp_path_factory.mktemp('ix')/'minilm.npz')


def test_saved_index_is_reused_only_while_model_and_titles_match(postings, tmp_path):
    p, small = tmp_path/'ix.npz', postings.head(30)
    first = build_index(DEFAULT_MODEL, small, p)
    assert first.status == 'built' and p.exists()
    again = build_index(DEFAULT_MODEL, small, p)
    assert again.status == 'loaded' and np.array_equal(again.embeddings, first.embeddings)
    edited = small.copy(); edited.loc[3, 'job_posting_title'] = 'Chief Happiness Officer'
    assert build_index(DEFAULT_MODEL, edited, p).status == 'built'
    # a changed model (as retraining writes) has a new fingerprint: the index is rebuilt for it
    model = tmp_path/'model'; shutil.copytree(resolve_model(DEFAULT_MODEL)[0], model)
    assert model_fingerprint(str(model)) == model_fingerprint(DEFAULT_MODEL)
    assert build_index(str(model), edited, p).status == 'loaded'
    cfg = model/'config_sentence_transformers.json'; cfg.write_text(cfg.read_text() + '\n')
    assert build_index(str(model), edited, p).status == 'built'
    p.write_bytes(b'garbage')
    assert build_index(str(model), edited, p).status == 'built'


def test_index_rows_are_unit_length_and_saved_under_the_artifacts(index, home):
    assert index.embeddings.dtype == np.float32 and index.embeddings.shape == (300, 384)
    np.testing.assert_allclose(np.linalg.norm(index.embeddings, axis=1), 1, atol=1e-4)
    assert index_path(DEFAULT_MODEL) == home.resolve()/'embeddings'/'all-MiniLM-L6-v2.npz'


def test_search_returns_ranked_table_with_posting_details(index):
    hits = search_top_k(index, 'registered nurse', k=5)
    assert list(hits.columns[:6]) == ['rank', 'score', 'title', 'company', 'onet_name', 'date']
    assert hits['rank'].tolist() == [1, 2, 3, 4, 5] and hits.score.is_monotonic_decreasing
    assert all('nurse' in t.lower() for t in hits.title[:3])
    row = index.postings.iloc[hits.posting_id[0]]
    assert (hits.title[0], hits.company[0], hits.onet_name[0]) == (row.job_posting_title, row.company, row.onet_name)


def test_odd_queries_give_a_message_or_a_result(index):
    for q in ['', '   ', '\n\t']:
        with pytest.raises(ValueError, match='the query is empty'): search_top_k(index, q)
    with pytest.raises(ValueError, match='the query must be text'): search_top_k(index, 42)
    long = search_top_k(index, 'line cook ' * 1000)
    assert len(long) == 10 and 'cook' in long.title[0].lower() and MAX_QUERY_CHARS < 10_000
    for q in ['软件工程师', 'медсестра', 'ممرضة', 'エンジニア']:
        r = search_top_k(index, q, k=3)
        assert len(r) == 3 and np.isfinite(r.score).all()
    assert len(search_top_k(index, 'nurse', k=10_000)) == len(set(posting_groups(index))) # every posting, copies once
    assert len(search_top_k(index, 'nurse', k=10_000, collapse=False)) == len(index)


def test_similar_postings_leave_the_posting_out_and_reject_unknown_ids(index):
    pid = int(search_top_k(index, 'registered nurse', k=1).posting_id[0])
    sim = similar_postings(index, pid, k=5)
    assert pid not in sim.posting_id.tolist() and len(sim) == 5
    assert 'nurse' in sim.title[0].lower()
    for bad in [len(index), -1, 10**12]:
        with pytest.raises(ValueError, match='unknown posting id'): similar_postings(index, bad)
    for bad in ['nurse', 1.5, None, True]:
        with pytest.raises(ValueError, match='a posting id is a whole number'): similar_postings(index, bad)


def test_top_k_matches_a_full_sort_and_honours_exclusions():
    rng = np.random.default_rng(0)
    e = rng.standard_normal((2000, 16)).astype(np.float32); e /= np.linalg.norm(e, axis=1, keepdims=True)
    q = e[7]
    idx, scores = top_k(e, q, 10, exclude=[7, 7])
    full = np.argsort(-(e @ q))
    assert idx.tolist() == [i for i in full if i != 7][:10]
    np.testing.assert_allclose(scores, (e @ q)[idx])


@pytest.mark.skipif(not faiss_available(), reason='faiss-cpu is not installed')
def test_approximate_index_answers_like_brute_force_when_it_scans_every_cluster(index):
    rng = np.random.default_rng(1)
    e = rng.standard_normal((5000, 32)).astype(np.float32); e /= np.linalg.norm(e, axis=1, keepdims=True)
    ann = build_ann(e, nlist=16, nprobe=16)
    for q in e[:20]:
        assert top_k(e, q, 10, exclude=[0], ann=ann)[0].tolist() == top_k(e, q, 10, exclude=[0])[0].tolist()
    assert ann_for(index) is None  # a small table stays exact
    try: assert ann_for(index, min_rows=100) is not None and len(similar_postings(index, 0, k=5)) == 5
    finally: index.ann = None


def test_cli_builds_the_default_index_and_says_how_to_train(postings, home, tmp_path, capsys):
    data = tmp_path/'postings.parquet'; postings.head(40).to_parquet(data)
    assert main(['index', '--data', str(data)]) == 0
    out = capsys.readouterr().out
    assert 'Default model: built 40 x 384' in out and 'jobsim train' in out
    assert (home/'embeddings'/'all-MiniLM-L6-v2.npz').exists()
    assert main(['index', '--data', str(data)]) == 0
    assert 'Default model: loaded 40 x 384' in capsys.readouterr().out


def test_cli_indexes_the_fine_tuned_model_when_there_is_one(postings, home, tmp_path, capsys):
    data = tmp_path/'postings.parquet'; postings.head(25).to_parquet(data)
    shutil.copytree(resolve_model(DEFAULT_MODEL)[0], home/'models'/'fine_tuned')
    assert main(['index', '--data', str(data)]) == 0
    out = capsys.readouterr().out
    assert 'Fine-tuned model: built 25 x 384' in out and 'jobsim train' not in out
    assert (home/'embeddings'/'fine_tuned.npz').exists()
    assert main(['index', '--data', str(tmp_path/'missing.parquet')]) == 1
    assert 'missing.parquet does not exist' in capsys.readouterr().err


@pytest.fixture(scope='module')
def with_copies(postings, tmp_path_factory):
    "The postings plus two more copies of one of them (same title and company, written differently) and one with another company."
    p = postings.copy()
    row = p[p.job_posting_title.str.contains('Nurse')].iloc[0]
    extra = pd.DataFrame([{**row, 'job_posting_title': row.job_posting_title.upper() + '!'},
                          {**row, 'company': str(row.company).lower()},
                          {**row, 'company': 'Another Hospital'}])
    return build_index(DEFAULT_MODEL, pd.concat([p, extra]).reset_index(drop=True), tmp_path_factory.mktemp('copies')/'ix.npz')


def keys(hits): return list(zip(hits.title.map(normalise_title), hits.company.map(normalise_title)))


def test_copies_of_a_posting_show_once_with_their_count(with_copies):
    title = with_copies.postings.job_posting_title.iloc[-1]
    hits = search_top_k(with_copies, title, k=10)
    assert len(set(keys(hits))) == 10 # ten different postings
    top = hits.iloc[0]
    assert normalise_title(top.title) == normalise_title(title) and top['count'] == 3 # itself and its two copies
    assert 'Another Hospital' in hits.company.tolist() # the same title elsewhere is another posting
    every = search_top_k(with_copies, title, k=10, collapse=False)
    assert (every['count'] == 1).all() and keys(every).count(keys(hits)[0]) == 3


def test_similar_postings_never_offer_a_copy_of_the_start(with_copies):
    start = len(with_copies) - 2 # one of the copies
    copies = set(np.flatnonzero(posting_groups(with_copies) == posting_groups(with_copies)[start]))
    assert len(copies) == 3
    assert not copies & set(similar_postings(with_copies, start, k=10).posting_id)
    assert copies - {start} <= set(similar_postings(with_copies, start, k=10, collapse=False).posting_id)


@pytest.mark.skipif(not faiss_available(), reason='faiss-cpu is not installed')
def test_approximate_index_is_saved_and_reused_while_its_index_matches(with_copies, tmp_path):
    make = lambda fp: SearchIndex(with_copies.model_name, with_copies.embeddings, with_copies.postings, tmp_path/'ix.npz', fingerprints=fp)
    first = make(with_copies.fingerprints)
    assert ann_for(first, min_rows=100) is not None and first.ann_status == 'built' and ann_path(first).exists()
    again = make(with_copies.fingerprints); ann_for(again, min_rows=100)
    assert again.ann_status == 'loaded' and again.ann.ntotal == len(with_copies)
    retrained = make({**with_copies.fingerprints, 'model': 'another model'}); ann_for(retrained, min_rows=100)
    assert retrained.ann_status == 'built'
    # collapsed search through the approximate index: still ten different postings
    hits = search_top_k(again, 'registered nurse', k=10)
    assert len(set(keys(hits))) == 10 and 'nurse' in hits.title[0].lower()


def test_k_is_a_whole_number_of_at_least_one_and_is_clipped_to_the_index(index):
    "k=0 used to return no rows and k=-1 all but one, silently; k=2.5 failed inside numpy."
    for bad in (0, -1, 2.5, float('nan'), True, None, '3'):
        with pytest.raises(ValueError, match='k must be a whole number of at least 1'): search_top_k(index, 'nurse', k=bad)
        with pytest.raises(ValueError, match='k must be a whole number of at least 1'): similar_postings(index, 0, k=bad)
    assert len(search_top_k(index, 'nurse', k=3)) == 3 and len(search_top_k(index, 'nurse', k=3.0)) == 3
    every = search_top_k(index, 'nurse', k=10**9, collapse=False) # more than there are: every posting, best first
    assert len(every) == len(index) and every.score.is_monotonic_decreasing
    assert len(similar_postings(index, 0, k=10**9, collapse=False)) == len(index) - 1
