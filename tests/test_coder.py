"Title -> O*NET coder: rows for every input, confidences that sum to at most 1, a saved coder that follows its model and data, and `jobsim code` on bad input and after an interruption."
import io, os, re, contextlib, json, shutil
from pathlib import Path
import numpy as np, pandas as pd, pytest
from jobsim.cli import main
from jobsim.data import get_splits, get_posting_split, posting_part
from jobsim.models import DEFAULT_MODEL, resolve_model
from jobsim.core import run_folder
from jobsim.vote import reference_titles, MAX_TITLE_CHARS, REF_SOURCES
from jobsim.coder import make_coder, build_coder, code_titles, CODE_COLS
from jobsim.codefile import code_file, parts_dir, lock_path, output_lock

SMALL_GRID = {'n_vote': (10, 40), 'temperature': (0.1,), 'posting_weight': (1, 4), 'lexical_weight': (0, 0.5)}


@pytest.fixture(scope='module')
def split():
    return get_posting_split(run_folder('default'))


@pytest.fixture(scope='module')
def coder(split):
    "A coder over a sample of the references, calibrated on a sample of the dev titles."
    refs = reference_titles()
    keep = pd.concat([refs[refs.source == 'posting'].sample(150, random_state=0), refs[refs.source != 'posting'].sample(250, random_state=0),
                      refs[refs.title.str.contains('Registered Nurse|Line Cook', regex=True)].head(10)]).drop_duplicates()
    return make_coder(DEFAULT_MODEL, keep, posting_part(split, 'dev').sample(80, random_state=0), grid=SMALL_GRID)


@pytest.fixture
def mini_run(tmp_path, split):
    "A run folder with small copies of the real splits (the coder only reads them)."
    d = tmp_path/'mini_run'; d.mkdir()
    sp = get_splits(run_folder('default'))
    sp.train.sample(60, random_state=0).to_csv(d/'train_ds.csv', index=False)
    for f, df in (('val_ds.csv', sp.val), ('test_ds.csv', sp.test)): df.head(5).to_csv(d/f, index=False)
    pd.concat([split[split.part == 'train'].head(40), split[split.part == 'dev'].head(40)]).to_csv(d/'postings_split.csv', index=False)
    return d


def test_references_never_include_dev_or_test_postings(split):
    refs = reference_titles()
    assert set(refs.source) == set(REF_SOURCES)
    held_out = set(split.title_key[split.part != 'train'])
    from jobsim.data import normalise_title
    assert not held_out & set(refs.title[refs.source == 'posting'].map(normalise_title))
    with pytest.raises(ValueError, match='unknown reference source'): reference_titles(sources=('dev',))


def test_code_titles_gives_k_codes_with_confidences_and_evidence(coder):
    out = code_titles(['Registered Nurse', 'Line Cook', 'registered  NURSE!'], k=5, coder=coder)
    assert list(out.columns) == CODE_COLS and len(out) == 3
    assert out.onet_code[0].startswith('29-1141') and out.codes[0] == out.codes[2]
    for _, r in out.iterrows():
        assert len(r.codes) == len(r.names) == len(r.confidences) == 5 and len(r.evidence) == 3
        assert sum(r.confidences) <= 1 + 1e-9 and r.confidences[0] == max(r.confidences) and r.confidence == r.confidences[0]
        assert r.classified == (r.confidence >= coder.threshold) and r.reason == ('' if r.classified else 'low confidence')
    low = code_titles(['Registered Nurse'], coder=coder, threshold=1) # above every confidence the vote gives it
    assert not low.classified[0] and low.reason[0] == 'low confidence' and len(low.codes[0]) == 5 # unclassified rows keep their codes


def test_odd_titles_become_unclassified_rows_never_dropped(coder):
    odd = [None, float('nan'), pd.NA, '', '   ', 42, b'nurse', '!!!', 'cook ' * 2000]
    out = code_titles(odd, coder=coder)
    assert len(out) == len(odd)
    assert out.reason[:8].tolist() == ['missing title'] * 3 + ['blank title'] * 2 + ['not text (int)', 'not text (bytes)', 'no letters or digits']
    assert not out.classified[:8].any() and all(c == [] for c in out.codes[:8])
    assert len(out.title.iloc[-1]) == MAX_TITLE_CHARS and len(out.codes.iloc[-1]) == 5 # a 10,000-character title is cut, then coded
    with pytest.raises(ValueError, match='wrap one title in a list'): code_titles('nurse', coder=coder)


def test_saved_coder_follows_its_model_and_data(tmp_path, mini_run):
    p, kw = tmp_path/'coder.npz', {'sources': ('jitter', 'posting')}
    first = build_coder(DEFAULT_MODEL, mini_run, path=p, **kw)
    assert first.status == 'built' and p.exists()
    again = build_coder(DEFAULT_MODEL, mini_run, path=p, **kw)
    assert again.status == 'loaded' and np.array_equal(again.embeddings, first.embeddings)
    assert json.dumps(again.params) == json.dumps(first.params) and again.refs.title.tolist() == first.refs.title.tolist()
    # the same model files under another name: still valid; an edited model (as retraining writes): rebuilt
    model = tmp_path/'model'; shutil.copytree(resolve_model(DEFAULT_MODEL)[0], model)
    assert build_coder(str(model), mini_run, path=p, **kw).status == 'loaded'
    cfg = model/'config_sentence_transformers.json'; cfg.write_text(cfg.read_text() + '\n')
    assert build_coder(str(model), mini_run, path=p, **kw).status == 'built'
    # other references: rebuilt; a damaged file: rebuilt
    pd.read_csv(mini_run/'train_ds.csv').head(30).to_csv(mini_run/'train_ds.csv', index=False)
    assert build_coder(str(model), mini_run, path=p, **kw).status == 'built'
    p.write_bytes(b'garbage')
    assert build_coder(str(model), mini_run, path=p, **kw).status == 'built'


def test_a_rescored_coder_reloads_to_the_same_answers(tmp_path, coder):
    from jobsim.coder import _write_coder, _read_coder
    assert coder.params['rerank'] is not None and len(coder.params['rerank']['coef']) == len(coder.params['rerank']['features'])
    fp = {'model': 'm', 'data': 'd'}
    _write_coder(tmp_path/'c.npz', coder, fp)
    back = _read_coder(tmp_path/'c.npz', fp)
    titles = ['Registered Nurse', 'CDL-A Truck Driver - Home Weekly', 'line cook', 'RN']
    pd.testing.assert_frame_equal(code_titles(titles, coder=back), code_titles(titles, coder=coder))


def write_titles(path, titles, **extra):
    df = pd.DataFrame({'job_posting_title': titles, **extra})
    df.to_parquet(path) if path.suffix == '.parquet' else df.to_csv(path, index=False)
    return path


BAD_INPUTS = { # file name -> (content: bytes, a table for parquet, or None for no file; the error's message)
    'missing.csv': (None, 'missing.csv does not exist'),
    'empty.csv': (b'', 'empty.csv is empty'),
    'blank.csv': (b'\n\n', 'blank.csv is empty'),
    'header.csv': (b'job_posting_title,company\n', 'header.csv has a header but no rows'),
    'other.csv': (b'title\nNurse\n', "other.csv has no column 'job_posting_title'; it has ['title']: choose one with --column"),
    'latin1.csv': ('job_posting_title\nIng\u00e9nieur\n'.encode('latin-1'), 'latin1.csv is not valid utf-8 text'),
    'broken.parquet': (b'PAR1 not really', 'broken.parquet is not a readable parquet file'),
    'none.parquet': (pd.DataFrame({'job_posting_title': pd.Series([], dtype=object)}), 'none.parquet has no rows'),
    'other.parquet': (pd.DataFrame({'title': ['Nurse']}), "other.parquet has no column 'job_posting_title'"),
}

@pytest.mark.parametrize('name', BAD_INPUTS)
def test_bad_input_stops_with_a_clear_error_naming_the_file(tmp_path, coder, name):
    content, message = BAD_INPUTS[name]
    path = tmp_path/name
    if isinstance(content, bytes): path.write_bytes(content)
    elif content is not None: content.to_parquet(path)
    with pytest.raises((ValueError, FileNotFoundError), match=re.escape(f'{tmp_path}/{message}')):
        code_file(path, tmp_path/'out.parquet', coder=coder, progress=False)
    assert not (tmp_path/'out.parquet').exists() and not parts_dir(tmp_path/'out.parquet').exists()


def test_non_utf8_csv_names_the_encoding_option_and_reads_with_it(tmp_path, coder, home):
    p = tmp_path/'latin1.csv'; p.write_bytes('job_posting_title\nIngénieur\nCuisinier\n'.encode('latin-1'))
    with pytest.raises(ValueError, match='--encoding latin-1') as e: code_file(p, coder=coder, progress=False)
    assert str(p) in str(e.value)
    out = pd.read_parquet(code_file(p, coder=coder, encoding='latin-1', progress=False)['out'])
    assert out.title.tolist() == ['Ingénieur', 'Cuisinier']
    err = io.StringIO()
    with contextlib.redirect_stderr(err): assert main(['code', str(p)]) == 1
    assert err.getvalue().count('\n') == 1 and err.getvalue().startswith(f'jobsim code: error: {p} is not valid utf-8 text')


def test_blank_nan_and_non_text_rows_are_kept_with_a_reason(tmp_path, coder):
    titles = ['Registered Nurse', None, '', '   ', 'x' * 10_000, 'Line Cook']
    pq = write_titles(tmp_path/'odd.parquet', titles, company=list('abcdef'))
    out = pd.read_parquet(code_file(pq, tmp_path/'odd.coded.parquet', coder=coder, progress=False)['out'])
    assert out.row.tolist() == list(range(6))
    assert out.reason[1:4].tolist() == ['missing title', 'blank title', 'blank title'] and not out.classified[1:4].any()
    assert len(out.title[4]) == MAX_TITLE_CHARS and out.codes[4].size == 5
    nums = tmp_path/'nums.parquet'; pd.DataFrame({'job_posting_title': pd.array([1, 2, None], dtype='Int64')}).to_parquet(nums)
    out = pd.read_csv(code_file(nums, tmp_path/'nums.coded.csv', coder=coder, progress=False)['out'])
    assert out.reason.tolist() == ['not text (int)', 'not text (int)', 'missing title'] and len(out) == 3
    csv = write_titles(tmp_path/'odd.csv', titles)
    out = pd.read_csv(code_file(csv, tmp_path/'odd.coded.csv', coder=coder, progress=False)['out'], keep_default_na=False)
    assert out.reason[1:4].tolist() == ['missing title', 'missing title', 'blank title'] # an empty CSV cell is missing
    assert json.loads(out.codes[0])[0].startswith('29-1141')


class Stop:
    "An on_chunk callback that presses Ctrl-C after `n` chunks."
    def __init__(self, n): self.n, self.seen = n, 0
    def __call__(self, i, df):
        self.seen += 1
        if self.seen >= self.n: raise KeyboardInterrupt


@pytest.mark.parametrize('suffix', ['.parquet', '.csv'])
def test_interrupted_run_resumes_and_equals_an_uninterrupted_one(tmp_path, coder, split, suffix):
    titles = posting_part(split, 'test').job_posting_title.head(70).tolist()
    titles = titles + titles[:20] + [None, ''] # repeats across chunks, and odd rows
    src = write_titles(tmp_path/f'in{suffix}', titles)
    whole = code_file(src, tmp_path/'whole.parquet', coder=coder, chunk_size=15, progress=False)
    assert whole['chunks'] == 7 and whole['resumed_chunks'] == 0 and whole['distinct_embedded'] == 70
    out = tmp_path/'resumed.parquet'
    err = io.StringIO()
    with contextlib.redirect_stderr(err), pytest.raises(KeyboardInterrupt):
        code_file(src, out, coder=coder, chunk_size=15, progress=False, on_chunk=Stop(3))
    assert 'run the same command again to resume' in err.getvalue()
    assert not out.exists() and len(list(parts_dir(out).glob('part-*.parquet'))) == 3
    with contextlib.redirect_stderr(io.StringIO()), pytest.raises(KeyboardInterrupt): # a second interruption keeps what is done
        code_file(src, out, coder=coder, chunk_size=15, progress=False, on_chunk=Stop(2))
    assert len(list(parts_dir(out).glob('part-*.parquet'))) == 5
    done = code_file(src, out, coder=coder, chunk_size=15, progress=False)
    assert (done['resumed_chunks'], done['chunks']) == (5, 7) and not parts_dir(out).exists()
    a, b = pd.read_parquet(tmp_path/'whole.parquet'), pd.read_parquet(out)
    pd.testing.assert_frame_equal(a, b, check_exact=True) # row for row, to the last bit: a title's answer does not depend on its chunk
    assert not lock_path(out).exists()


def test_other_settings_or_an_edited_input_start_over(tmp_path, coder):
    src = write_titles(tmp_path/'in.csv', ['Nurse', 'Cook', 'Welder', 'Driver', 'Teacher'])
    out = tmp_path/'out.parquet'
    with contextlib.redirect_stderr(io.StringIO()), pytest.raises(KeyboardInterrupt):
        code_file(src, out, coder=coder, chunk_size=2, progress=False, on_chunk=Stop(1))
    assert code_file(src, out, coder=coder, chunk_size=2, k=3, progress=False)['resumed_chunks'] == 0 # k changed
    with contextlib.redirect_stderr(io.StringIO()), pytest.raises(KeyboardInterrupt):
        code_file(src, out, coder=coder, chunk_size=2, progress=False, on_chunk=Stop(2))
    write_titles(src, ['Nurse', 'Cook', 'Welder', 'Driver', 'Baker'])
    s = code_file(src, out, coder=coder, chunk_size=2, progress=False)
    assert s['resumed_chunks'] == 0 and pd.read_parquet(out).title.tolist()[-1] == 'Baker'


def test_jobsim_code_command(tmp_path, mini_run, home, capsys):
    src = write_titles(tmp_path/'postings.csv', ['Registered Nurse', 'Line Cook', ''], company=['a', 'b', 'c'])
    assert main(['code', str(src), '--run', str(mini_run), '--quiet']) == 0
    out = pd.read_parquet(tmp_path/'postings.coded.parquet')
    assert len(out) == 3 and out.reason[2] == 'missing title'
    assert '3 rows' in capsys.readouterr().out
    assert (home/'coders'/'all-MiniLM-L6-v2.npz').exists() # the coder is saved under the artifacts
    assert main(['code', str(tmp_path/'nope.parquet')]) == 1
    assert capsys.readouterr().err.strip() == f"jobsim code: error: {tmp_path/'nope.parquet'} does not exist"
    assert main(['code', str(src), '--column', 'title']) == 1
    assert "has no column 'title'; it has ['job_posting_title', 'company']" in capsys.readouterr().err


def test_a_title_codes_the_same_alone_and_in_any_batch(coder, split):
    "No feature is computed across the call's titles: equal codes and confidences, not close ones."
    q = 'Registered Nurse - ICU'
    others = posting_part(split, 'test').job_posting_title.head(40).tolist()
    alone = code_titles([q], coder=coder).iloc[0]
    for batch in ([q] + others[:3], others[3:40] + [q] + ['x' * 3000]):
        r = code_titles(batch, coder=coder).set_index('title').loc[q]
        assert (r.codes, r.confidences, r.evidence, r.evidence_scores) == (alone.codes, alone.confidences, alone.evidence, alone.evidence_scores)
    with_cache = {}
    code_titles(others[:20], coder=coder, cache=with_cache)
    r = code_titles(others[10:30] + [q], coder=coder, cache=with_cache).iloc[-1]
    assert (r.codes, r.confidences) == (alone.codes, alone.confidences)


def test_k_and_threshold_are_checked(coder):
    for k, message in [(0, 'k must be a positive whole number, got 0'), (-1, 'got -1'), (2.5, 'got 2.5'),
                       (10**9, f'k must be at most {len(coder.codes):,}, the number of codes the coder knows')]:
        with pytest.raises(ValueError, match=re.escape(message)): code_titles(['Nurse'], k=k, coder=coder)
    assert len(code_titles(['Nurse'], k=len(coder.codes), coder=coder).codes[0]) <= len(coder.codes)
    for t in (5, -0.5, float('nan')):
        with pytest.raises(ValueError, match='threshold must be a number from 0 to 1'): code_titles(['Nurse'], coder=coder, threshold=t)


def test_default_output_keeps_the_full_name_and_csv_titles_are_text(tmp_path, coder):
    a = write_titles(tmp_path/'jobs.2023.csv', ['Nurse', 'None', 'NaN', 'nan', '', 'NA'])
    b = write_titles(tmp_path/'jobs.2024.csv', ['Cook'])
    assert code_file(a, coder=coder, progress=False)['out'] == tmp_path/'jobs.2023.coded.parquet'
    assert code_file(b, coder=coder, progress=False)['out'] == tmp_path/'jobs.2024.coded.parquet' # the 2023 output is still there
    out = pd.read_parquet(tmp_path/'jobs.2023.coded.parquet')
    assert out.title.tolist()[:4] == ['Nurse', 'None', 'NaN', 'nan'] and out.title[5] == 'NA'
    assert out.reason.tolist()[1:4] == ['low confidence' if not c else '' for c in out.classified[1:4]] # coded, not missing
    assert out.reason[4] == 'missing title' # a real empty cell still is
    assert pd.read_parquet(tmp_path/'jobs.2024.coded.parquet').title.tolist() == ['Cook']


@pytest.fixture
def no_build(monkeypatch):
    "Fail the test if a coder is built (or a model loaded for one): the checks must come first."
    import jobsim.codefile
    def boom(*a, **kw): raise AssertionError('the coder was built before the checks')
    monkeypatch.setattr(jobsim.codefile, 'build_coder', boom)


def test_jobsim_code_checks_everything_before_building_the_coder(tmp_path, no_build, capsys):
    src = write_titles(tmp_path/'in.csv', ['Nurse', 'Cook'])
    (tmp_path/'header.csv').write_text('job_posting_title\n')
    (tmp_path/'taken').mkdir()
    ro = Path('/sys') if os.geteuid() == 0 else tmp_path/'ro' # root writes anywhere but in /sys
    if ro != Path('/sys'): ro.mkdir(); ro.chmod(0o555)
    for args, message in [([str(tmp_path/'header.csv')], 'header.csv has a header but no rows'),
                          ([str(src), '--k', '0'], 'k must be a positive whole number, got 0'),
                          ([str(src), '--k', '1000000000'], 'k must be at most'),
                          ([str(src), '--threshold', '5'], 'threshold must be a number from 0 to 1 (a confidence), got 5'),
                          ([str(src), '--threshold', '-0.1'], 'threshold must be a number from 0 to 1'),
                          ([str(src), '--chunk-size', '0'], 'chunk_size must be a positive whole number'),
                          ([str(src), '--out', str(tmp_path/'taken')], f"the output {tmp_path/'taken'} is a folder"),
                          ([str(src), '--out', str(ro/'x.coded.parquet')], f"cannot write the output {ro/'x.coded.parquet'}"),
                          ([str(src), '--engine', 'ray', '--workers', '0'], 'workers must be a positive whole number')]:
        assert main(['code', *args, '--quiet']) == 1, args
        err = capsys.readouterr().err.strip()
        assert err.count('\n') == 0 and err.startswith('jobsim code: error:') and message in err, (args, err)
    assert not list(tmp_path.glob('.*')) # no probe, lock or parts left behind


def test_a_second_run_on_the_same_output_stops_at_once(tmp_path, coder, capsys):
    import subprocess, socket
    src = write_titles(tmp_path/'in.csv', ['Nurse', 'Cook', 'Welder'])
    out = tmp_path/'out.parquet'
    other = subprocess.Popen(['sleep', '60']) # a run in progress in another process
    try:
        lock_path(out).write_text(json.dumps({'pid': other.pid, 'host': socket.gethostname(), 'started': '2026-01-01 09:00:00'}))
        with pytest.raises(ValueError, match=re.escape(f'is being written by another jobsim code run (PID {other.pid} on {socket.gethostname()}, started 2026-01-01 09:00:00)')):
            code_file(src, out, coder=coder, progress=False)
        assert main(['code', str(src), '--out', str(out), '--quiet']) == 1 # at once: before any coder is built
        err = capsys.readouterr().err.strip()
        assert err.count('\n') == 0 and f'PID {other.pid}' in err and lock_path(out).exists() and not out.exists()
    finally: other.kill(); other.wait()
    with contextlib.redirect_stderr(io.StringIO()): s = code_file(src, out, coder=coder, progress=False) # now stale: taken over
    assert s['rows'] == 3 and not lock_path(out).exists()
    # a failing run leaves no lock either
    with pytest.raises(KeyboardInterrupt), contextlib.redirect_stderr(io.StringIO()):
        code_file(src, tmp_path/'b.parquet', coder=coder, chunk_size=1, progress=False, on_chunk=Stop(1))
    assert not lock_path(tmp_path/'b.parquet').exists()


def test_stale_lock_is_taken_over_with_a_warning(tmp_path, coder, caplog):
    import subprocess, socket
    src = write_titles(tmp_path/'in.csv', ['Nurse'])
    gone = subprocess.Popen(['true']); gone.wait()
    lock_path(tmp_path/'out.parquet').write_text(json.dumps({'pid': gone.pid, 'host': socket.gethostname(), 'started': 'yesterday'}))
    with caplog.at_level('WARNING'): assert code_file(src, tmp_path/'out.parquet', coder=coder, progress=False)['rows'] == 1
    assert f'taking over the lock of a run that is gone (PID {gone.pid}' in caplog.text
    assert not lock_path(tmp_path/'out.parquet').exists()


def test_csv_output_neutralises_formulas_and_parquet_keeps_them(tmp_path, coder):
    evil = ['=HYPERLINK("http://evil.example","Nurse")', '+1 Nurse', '-Cook', '@SUM(A1)', '\tTab Nurse', '\rCR Cook', 'Line Cook']
    src = write_titles(tmp_path/'in.parquet', evil)
    csv = pd.read_csv(code_file(src, tmp_path/'out.csv', coder=coder, progress=False)['out'], keep_default_na=False)
    assert csv.title.tolist() == ["'" + t for t in evil[:6]] + ['Line Cook']
    assert not any(str(v).startswith(('=', '+', '-', '@', '\t', '\r')) for col in csv for v in csv[col])
    pq = pd.read_parquet(code_file(src, tmp_path/'out.parquet', coder=coder, progress=False)['out'])
    assert pq.title.tolist() == evil


def test_building_a_coder_shows_its_stages(split, capsys):
    "A coder build reports each stage on a progress bar (stderr), and stays quiet when asked."
    from jobsim.models import TfidfEncoder
    refs = reference_titles().sample(300, random_state=0)
    dev = posting_part(split, 'dev').sample(40, random_state=0)
    tf = TfidfEncoder().fit(refs.title)
    make_coder(None, refs, dev, encode=lambda t: tf.encode(t, sparse=True), grid=SMALL_GRID, rerank=False, progress=True)
    err = capsys.readouterr().err
    assert 'building the coder' in err and '5/5' in err and 'calibrating' in err
    make_coder(None, refs, dev, encode=lambda t: tf.encode(t, sparse=True), grid=SMALL_GRID, rerank=False, progress=False)
    assert 'building the coder' not in capsys.readouterr().err
